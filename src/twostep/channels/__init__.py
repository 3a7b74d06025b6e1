"""Delivery channels beyond the SMS text (voice calls, WhatsApp) and the one registry of provider and
channel names (`registry.py`).

Kept free of imports here: `settings.py` reads the registry at start-up, and nothing else of this
package (nor any provider module) may load before a configured provider asks for it.
"""
