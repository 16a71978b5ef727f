"""The connection form as Airflow 3.2+ shows and saves it: hints in the descriptions, empty extras harmless."""

from __future__ import annotations

import pytest

from airflow_provider_neetocal.hooks.neetocal import DEFAULT_TIMEOUT, NeetoCalHook
from airflow_provider_neetocal.provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR


@pytest.mark.parametrize("name", sorted(set(CONN_FIELDS) & set(UI_FIELD_BEHAVIOUR["placeholders"])))
def test_each_extra_field_description_carries_its_placeholder_as_an_example(name: str) -> None:
    # Airflow 3.3 shows no placeholder for conn-fields, only the description: the example must be there.
    description = CONN_FIELDS[name]["description"]

    example = UI_FIELD_BEHAVIOUR["placeholders"][name].removesuffix(" (optional)")
    assert f"e.g. {example}:" in description


def test_a_connection_saved_with_every_extra_field_empty_behaves_like_one_without_extras(neetocal_conn) -> None:
    # What the Airflow 3.3 form stores when the extra fields are left empty: each name with null.
    neetocal_conn("acme")
    plain = NeetoCalHook()
    neetocal_conn("acme", **dict.fromkeys(CONN_FIELDS))
    saved = NeetoCalHook()

    assert saved.base_url == plain.base_url == "https://acme.neetocal.com/api/external/v1"
    assert saved.timeout == plain.timeout == DEFAULT_TIMEOUT
    assert saved.session.proxies == plain.session.proxies == {}
    assert saved.session.verify == plain.session.verify
