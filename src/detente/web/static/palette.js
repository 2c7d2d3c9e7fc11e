// Colours that mean something, in one place: alert severities and the parties' default colours.

export const SEVERITY_COLOURS = { advisory: "#e8c22e", warning: "#f07f1a", critical: "#e0231c" };

// A party's colour when its source does not say (a replay of a recording that does not carry
// colours): by the party's place in the configuration, as detente.service.config.PARTY_COLOURS,
// which tests/web/test_modules.py holds this list to.
export const PARTY_COLOURS = ["#2f6fd0", "#9a3fc4", "#148a5c", "#a86a1c", "#1f8a9e", "#5c6b7a"];
export const UNKNOWN_PARTY = "#6b6b6b";

/** parties [{id, name?, colour?}] in configuration order -> Map id -> {id, name, colour}. */
export function partyColours(parties) {
  return new Map(parties.map((p, k) => [p.id, {
    id: p.id, name: p.name ?? p.id, colour: p.colour ?? PARTY_COLOURS[k % PARTY_COLOURS.length],
  }]));
}
