"""Party colours in the configuration: fixed by the party's place in it, or set per party."""

from __future__ import annotations

import pytest

from detente.data import bundled_path
from detente.errors import InputError
from detente.service.config import PARTY_COLOURS, config_document, load_config, parse_config


def document(*parties: dict) -> dict:
    return {"region": {"centre": [36.0, 36.0]}, "parties": list(parties)}


def test_default_colours_follow_the_order_of_the_configuration_and_wrap():
    ids = [f"P{k}" for k in range(len(PARTY_COLOURS) + 1)]
    config = parse_config(document(*({"id": p} for p in ids)))
    assert [config.parties[p].colour for p in ids] == [*PARTY_COLOURS, PARTY_COLOURS[0]]
    # The same parties listed the other way round swap colours: order, not names, decides.
    swapped = parse_config(document({"id": "P1"}, {"id": "P0"}))
    assert swapped.parties["P1"].colour == PARTY_COLOURS[0]


def test_a_party_sets_its_own_colour_and_the_others_keep_their_place():
    config = parse_config(document({"id": "A"}, {"id": "B", "colour": "#AbCdEf"}, {"id": "C"}))
    assert [config.parties[p].colour for p in "ABC"] == [
        PARTY_COLOURS[0], "#abcdef", PARTY_COLOURS[2]]


@pytest.mark.parametrize("bad", ["red", "#abc", "#abcdefa", "", 7, None])
def test_a_bad_colour_is_named(bad):
    with pytest.raises(InputError, match=r"parties\[1\]\.colour: expected a colour"):
        parse_config(document({"id": "A"}, {"id": "B", "colour": bad}))


def test_the_demo_configuration_writes_the_default_colours():
    # The demo's colours are the defaults for its order: a recording of it, read back by a
    # replay that knows no colours, shows the same ones.
    config = load_config(bundled_path("demo/border.toml"))
    assert [p.colour for p in config.parties.values()] == list(PARTY_COLOURS[:3])


def test_a_recordings_configuration_keeps_the_colours_it_ran_with():
    # config_document is what a recording holds; the replay reads it back with parse_config.
    config = parse_config(document({"id": "A", "colour": "#123456"}, {"id": "B"},
                                   {"id": "C", "colour": "#fedcba"}))
    again = parse_config(config_document(config))
    assert [again.parties[p].colour for p in "ABC"] == ["#123456", PARTY_COLOURS[1], "#fedcba"]
