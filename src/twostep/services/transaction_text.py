"""The SMS text of a transaction-bound verification code, and the code spec that binds it.

PSD2's dynamic linking asks that the payer sees the amount and the payee with the code, and that the code
works for that amount and payee only: the text shows both, and the spec carries their binding into the
code's HMAC (domain/transaction.py).
"""

from __future__ import annotations

from dataclasses import replace

from twostep.domain.delivery import SMS
from twostep.domain.errors import InvalidInput, MessageNotAllowed
from twostep.domain.models import Tenant
from twostep.domain.transaction import Transaction
from twostep.services.challenges import CodeSpec
from twostep.services.verification_input import url_pattern

# The text when the verification's own text is an operator's (a tenant's template, Flowroute compatibility);
# otherwise the bundled transaction text in the reader's language is used (src/twostep/texts/*.json).
TRANSACTION_TEMPLATE = (
    "{code} is your {org} code to pay {amount} to {payee}. It expires in {minutes} minutes. Don't share it."
)


def _check_payee(payee: str, tenant: Tenant | None) -> None:
    """Raises: MessageNotAllowed for a web address when the tenant may not send links (a payee is text
    the caller puts in the SMS)."""
    if tenant is not None and not tenant.allow_urls and url_pattern().search(payee):
        raise MessageNotAllowed("payee may not contain a link or web address.", field="payee")


def _checked_template(template: str) -> str:
    """A caller's own text must show what the code confirms."""
    for name in ("amount", "payee"):
        if "{" + name + "}" not in template:
            raise InvalidInput(f"message must contain {{{name}}} when {name} is given.", field="message")
    return template


def bind_transaction(
    spec: CodeSpec,
    transaction: Transaction | None,
    *,
    own_message: bool,
    tenant: Tenant | None = None,
    template: str = TRANSACTION_TEMPLATE,
) -> CodeSpec:
    """`spec` with the transaction's text and HMAC binding; unchanged without a transaction.

    `own_message`: the caller sent its own text (it must then show `{amount}` and `{payee}`); otherwise
    `template` (the transaction text) replaces the default one.

    Raises: InvalidInput naming `message` or `channel` (not SMS); MessageNotAllowed naming `payee`.
    """
    if transaction is None:
        return spec
    if spec.channel != SMS:  # a call or a WhatsApp template would give the code without what it confirms
        raise InvalidInput("amount and payee are sent by SMS only; use the sms channel.", field="channel")
    _check_payee(transaction.payee, tenant)
    if spec.text is not None and not own_message:
        # the bundled transaction text, chosen by the locale chain when the code is sent
        amount, payee = transaction.amount, transaction.payee
        return replace(spec, text="transaction", amount=amount, payee=payee, binding=transaction.binding())
    text = _checked_template(spec.template) if own_message else template
    # Neither the amount's strict format nor a payee allows braces: filling them in before the code can
    # never put a placeholder into the text.
    text = text.replace("{amount}", transaction.amount).replace("{payee}", transaction.payee)
    return replace(spec, template=text, binding=transaction.binding())
