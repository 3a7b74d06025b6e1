// The country hint beside the phone field: turns a national number into E.164 (+ and country code).
const COUNTRIES = [
  ["US", "United States", "1"], ["CA", "Canada", "1"], ["GB", "United Kingdom", "44"],
  ["IE", "Ireland", "353"], ["DE", "Germany", "49"], ["AT", "Austria", "43"], ["CH", "Switzerland", "41"],
  ["FR", "France", "33"], ["BE", "Belgium", "32"], ["NL", "Netherlands", "31"], ["ES", "Spain", "34"],
  ["PT", "Portugal", "351"], ["IT", "Italy", "39"], ["SE", "Sweden", "46"], ["NO", "Norway", "47"],
  ["DK", "Denmark", "45"], ["FI", "Finland", "358"], ["PL", "Poland", "48"], ["TR", "Türkiye", "90"],
  ["IN", "India", "91"], ["JP", "Japan", "81"], ["AU", "Australia", "61"], ["NZ", "New Zealand", "64"],
  ["BR", "Brazil", "55"], ["MX", "Mexico", "52"], ["ZA", "South Africa", "27"], ["NG", "Nigeria", "234"],
];

function guessCountry() {
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const region = String(tag).split("-")[1];
    if (region && COUNTRIES.some(([code]) => code === region.toUpperCase())) return region.toUpperCase();
  }
  return "US";
}

/** Fill the country <select> and pre-select the browser's region. */
export function fillCountries(select) {
  const chosen = guessCountry();
  select.replaceChildren(
    ...COUNTRIES.map(([code, name, dial]) => {
      const option = new Option(`${name} (+${dial})`, code, false, code === chosen);
      option.dataset.dial = dial;
      return option;
    }),
  );
}

/** "+…" stays as typed; otherwise the country's code goes in front and a trunk 0 is dropped. */
export function toInternational(select, raw) {
  const typed = raw.trim();
  if (typed.startsWith("+") || typed.startsWith("00")) return typed.replace(/^00/, "+");
  const digits = typed.replace(/[^0-9]/g, "").replace(/^0/, "");
  if (!digits) return typed;
  const dial = select.selectedOptions[0]?.dataset.dial || "";
  return `+${dial}${digits}`;
}
