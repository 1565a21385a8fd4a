"""The small-business exemption's keys: ``[invoice] vat_regime`` and ``art53_notice_percent``."""

from __future__ import annotations

from pathlib import Path

import pytest

from igest_sync.config import load_config
from igest_sync.errors import ConfigError
from tests.unit.test_config import MINIMAL, write


def load(tmp_path: Path, extra: str):
    config, _warnings = load_config(write(tmp_path, MINIMAL + extra))
    return config


def test_the_regime_is_normal_unless_declared(tmp_path):
    config = load(tmp_path, "")
    assert config.invoice.vat_regime == "normal" and config.invoice.art53_notice_percent == 80


def test_art53_with_m10(tmp_path):
    config = load(
        tmp_path,
        'vat_regime = "art53"\nproduct_exemption_code = "M10"\nshipping_exemption_code = "M10"\n'
        "art53_notice_percent = 90\n",
    )
    assert config.invoice.vat_regime == "art53" and config.invoice.art53_notice_percent == 90


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('vat_regime = "small"\n', "vat_regime: expected one of normal, art53"),
        ('vat_regime = "art53"\nproduct_exemption_code = "M07"\n', 'set it to "M10"'),
        ("art53_notice_percent = 100\n", "art53_notice_percent: expected a value between 1 and 99"),
    ],
)
def test_wrong_values_name_the_key(tmp_path, extra, expected):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, extra)
    assert any(expected in p for p in error.value.problems), error.value.problems


def test_art53_checks_the_exemption_code_that_takes_effect(tmp_path):
    # [invoice.exemptions] domestic_goods wins over product_exemption_code: a config whose
    # old key says M10 while the new one says M09 was accepted, and its documents were never
    # guarded (the guard watches M10 lines).
    with pytest.raises(ConfigError) as error:
        load(
            tmp_path,
            'vat_regime = "art53"\nproduct_exemption_code = "M10"\n'
            '[invoice.exemptions]\ndomestic_goods = "M09"\n',
        )
    assert any(
        "[invoice.exemptions] domestic_goods: 'M09'" in p and 'set it to "M10"' in p
        for p in error.value.problems
    ), error.value.problems


def test_art53_with_m10_under_the_newer_keys(tmp_path):
    config = load(
        tmp_path,
        'vat_regime = "art53"\n[invoice.exemptions]\ndomestic_goods = "M10"\n'
        'domestic_shipping = "M10"\n',
    )
    assert config.invoice.vat_regime == "art53"


def eu_warnings(tmp_path: Path, regime: str, codes: str) -> list[str]:
    """The config's warnings about [invoice.exemptions] eu_* under ``regime``."""
    domestic = 'domestic_goods = "M10"\n' if regime == "art53" else ""
    _config, warnings = load_config(
        write(
            tmp_path,
            MINIMAL + f'vat_regime = "{regime}"\n[invoice.exemptions]\n{domestic}{codes}',
        )
    )
    return [w for w in warnings if "eu_" in w]


def test_an_eu_code_of_the_other_regime_is_warned_of(tmp_path):
    warnings = eu_warnings(tmp_path, "art53", 'eu_goods = "M16"\neu_shipping = "M05"\n')
    expected = "makes no intra-EU supplies (art. 139 of the VAT Directive)"
    assert [w for w in warnings if "eu_goods" in w and expected in w], warnings
    assert not [w for w in warnings if "eu_shipping" in w], warnings


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[invoice.exemptions]\ndomestic_goods = "M10"\n', "[invoice.exemptions] domestic_goods"),
        ('[invoice.exemptions]\ndomestic_shipping = "M10"\n', "domestic_shipping"),
        ('[invoice.exemptions]\neu_goods = "M10"\n', "[invoice.exemptions] eu_goods"),
        ('[invoice.exemptions]\nexport_shipping = "M10"\n', "export_shipping"),
        ('product_exemption_code = "M10"\n', "[invoice] product_exemption_code"),
        ('shipping_exemption_code = "M10"\n', "[invoice] shipping_exemption_code"),
        ('[products]\nvat_rate = 0\nexemption_code = "M10"\n', "[products] exemption_code"),
    ],
)
def test_m10_without_the_small_business_regime_is_refused(tmp_path, extra, key):
    # A merchant whose exemption ended set vat_regime = "normal", as the refusal said, and
    # left domestic_goods = "M10": the next invoice carried the small-business code on a 0 %
    # line of a VAT-charging business, a final document that cannot be undone.
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, extra)
    problems = "\n".join(refused.value.problems)
    assert key in problems and '"M10" is the small-business exemption' in problems, problems
    assert 'vat_regime = "art53"' in problems, problems  # and what to do, either way


def test_an_eu_code_of_its_own_regime_is_not_warned_of(tmp_path):
    for regime, code in (("art53", "M10"), ("normal", "M16")):
        assert eu_warnings(tmp_path, regime, f'eu_goods = "{code}"\n') == [], regime


@pytest.mark.parametrize(
    ("extra", "key", "where"),
    [
        ('[invoice.exemptions]\ndomestic_goods = "M16"\n', "domestic_goods", "in Portugal"),
        ('[invoice.exemptions]\nexport_shipping = "M16"\n', "export_shipping", "an export"),
        ('product_exemption_code = "M16"\n', "[invoice] product_exemption_code", "in Portugal"),
    ],
)
def test_m16_outside_the_eu_codes_is_refused(tmp_path, extra, key, where):
    # Accepted before, by the loader and by `check`: a domestic 0 % line was then invoiced as an
    # intra-EU supply, with no VIES check, on a final document.
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, extra)
    problems = "\n".join(refused.value.problems)
    assert key in problems and '"M16" is the exempt supply' in problems, problems
    assert where in problems and "eu_goods" in problems, problems


def test_m16_for_the_eu_is_accepted(tmp_path):
    config = load(tmp_path, '[invoice.exemptions]\neu_goods = "M16"\neu_shipping = "M16"\n')
    assert config.invoice.exemptions["eu_goods"] == "M16"
    # [products] exemption_code sets iGEST's product records only, never a document line: a
    # config that loaded before this check still does.
    load(tmp_path, '[products]\nvat_rate = 0\nexemption_code = "M16"\n')


@pytest.mark.parametrize(("regime", "example"), [("normal", "M07"), ("art53", "M10")])
def test_a_0_rate_without_a_code_is_refused_with_an_example_the_regime_accepts(
    tmp_path, regime, example
):
    # It said "for example M10" under the normal regime, which then refused M10 in turn.
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, f'vat_regime = "{regime}"\n[products]\nvat_rate = 0\n')
    problems = "\n".join(refused.value.problems)
    assert f"(for example {example};" in problems, problems
