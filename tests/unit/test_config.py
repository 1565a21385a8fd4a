"""Loading, validating and writing the configuration file."""

from __future__ import annotations

import dataclasses
import os
import stat
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.config import (
    DEFAULT_JUMPSELLER_URL,
    AlertsConfig,
    Config,
    InvoiceConfig,
    ProductsConfig,
    ServeConfig,
    StockConfig,
    ViesConfig,
    init_values,
    load_config,
    write_config,
)
from igest_sync.errors import ConfigError
from igest_sync.redact import redact

REPO = Path(__file__).resolve().parents[2]

TOKEN = "tok-SECRET-js-81f3"
SECURITY = "sec-SECRET-ig-77aa"
KEY = "key-SECRET-ig-1234"

MINIMAL = f"""\
[jumpseller]
base_url = "https://api.jumpseller.com/v1/"
login = "mystore"
auth_token = "{TOKEN}"

[igest]
base_url = "https://igest.example.pt/api/v1"
integration_key = "{KEY}"
security_code = "{SECURITY}"

[invoice]
start_date = 2026-11-01
"""


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    return load_config(write(tmp_path, text), env={} if env is None else env)


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text, env)
    return caught.value.problems


def with_key(section: str, line: str, base: str = MINIMAL) -> str:
    """``base`` with ``line`` added to ``section`` (appended as a new table if absent)."""
    header = f"[{section}]\n"
    if header in base:
        return base.replace(header, header + line + "\n", 1)
    return base + "\n" + header + line + "\n"


# --------------------------------------------------------------------------------------------
# Valid files


def test_minimal_file_loads_with_dataclass_defaults(tmp_path):
    config, warnings = load_text(tmp_path, MINIMAL)
    assert isinstance(config, Config)
    assert config.path == tmp_path / "config.toml"
    assert config.jumpseller.base_url == "https://api.jumpseller.com/v1"  # slash stripped
    assert config.jumpseller.store == "mystore"  # defaults to the login
    assert config.igest.security_code == SECURITY
    assert config.invoice == InvoiceConfig(start_date=date(2026, 11, 1))
    assert config.products == ProductsConfig()
    assert config.stock == StockConfig()
    assert warnings == []


def test_missing_start_date_is_a_warning_not_an_error(tmp_path):
    _config, warnings = load_text(tmp_path, MINIMAL.replace("start_date = 2026-11-01\n", ""))
    assert len(warnings) == 1 and "start_date" in warnings[0]


def test_example_file_loads_without_problems_and_documents_every_key():
    example = REPO / "config.example.toml"
    config, warnings = load_config(example, env={})
    assert not [w for w in warnings if "chmod" not in w]
    assert config.invoice.start_date == date(2026, 11, 1)
    assert config.jumpseller.base_url == DEFAULT_JUMPSELLER_URL
    data = tomllib.loads(example.read_text(encoding="utf-8"))
    for section, cls in (
        ("jumpseller", type(config.jumpseller)),
        ("igest", type(config.igest)),
        ("invoice", InvoiceConfig),
        ("products", ProductsConfig),
        ("stock", StockConfig),
        ("vies", ViesConfig),
        ("serve", ServeConfig),
        ("alerts", AlertsConfig),
    ):
        assert set(data[section]) == {f.name for f in dataclasses.fields(cls)}, section


def test_example_file_fixed_lines_are_as_agreed():
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    assert 'base_url = "https://api.jumpseller.com/v1"' in text
    assert "# or IGEST_SYNC_JUMPSELLER_AUTH_TOKEN" in text
    assert "# or IGEST_SYNC_IGEST_SECURITY_CODE" in text
    assert 'start_date = "2026-11-01"  # orders paid before this day are never invoiced' in text


def test_all_optional_settings_parse(tmp_path):
    text = MINIMAL.replace("start_date = 2026-11-01", 'start_date = "2026-10-31"')
    text = with_key("jumpseller", 'store = "shop-code"', text)
    text += """
document_type = "FS"
fs_fallback = "fail"
vat_region = "PT-MA"
product_exemption_code = "M07"
shipping_exemption_code = ""
invalid_nif = "consumer"
default_payment_method = "MB"
warehouse = "ARM1"
move_stock = false
concurrency = 8
email_max_age_days = 0
payment_methods = { stripe = "CC", manual = "TB" }

[products]
vat_rate = 22.0
prices_include_vat = false

[stock]
enabled = true
direction = "jumpseller_to_igest"
warehouse = "ARM2"
jumpseller_location_id = 17
max_zero_share = 1
"""
    config, _ = load_text(tmp_path, text)
    assert config.jumpseller.store == "shop-code"
    inv = config.invoice
    assert inv.start_date == date(2026, 10, 31)
    assert (inv.document_type, inv.fs_fallback, inv.vat_region) == ("FS", "fail", "PT-MA")
    assert inv.product_exemption_code == "M07" and inv.shipping_exemption_code is None
    assert inv.payment_methods == {"stripe": "CC", "manual": "TB"}
    assert (inv.warehouse, inv.move_stock, inv.concurrency) == ("ARM1", False, 8)
    assert config.products.vat_rate == Decimal("22") and isinstance(
        config.products.vat_rate, Decimal
    )
    assert config.stock.jumpseller_location_id == 17
    assert config.stock.max_zero_share == Decimal(1)


def test_zero_rate_with_exemption_code_is_accepted(tmp_path):
    # (M10, the small-business code, only with vat_regime = "art53": test_config_art53.py)
    text = with_key("products", 'vat_rate = 0\nexemption_code = "M07"')
    config, _ = load_text(tmp_path, text)
    assert config.products.vat_rate == 0 and config.products.exemption_code == "M07"


# --------------------------------------------------------------------------------------------
# Errors


def test_every_problem_is_reported_together(tmp_path):
    text = f"""\
[jumpseller]
base_url = "https://api.jumpseller.com/v1"
login = "mystore"
auth_token = "{TOKEN}"

[igest]
base_url = "https://igest.example.pt/api/v1"
integration_key = "{KEY}"

[invoice]
documen_type = "FR"
start_date = "yesterday"
concurrency = "four"

[stok]
enabled = true
"""
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    problems = caught.value.problems
    assert len(problems) == 5, problems
    assert (
        "config.toml: [invoice] documen_type: unknown key (did you mean document_type?)" in problems
    )
    assert (
        "config.toml: [igest] security_code: missing (or set IGEST_SYNC_IGEST_SECURITY_CODE)"
        in problems
    )
    assert (
        "config.toml: [invoice] start_date: expected a date like 2026-11-01, got 'yesterday'"
        in problems
    )
    assert "config.toml: [invoice] concurrency: expected an integer, got 'four'" in problems
    assert "config.toml: [stok]: unknown section (did you mean [stock]?)" in problems
    assert str(tmp_path / "config.toml") in caught.value.message
    assert caught.value.exit_code == 2


def test_empty_file_reports_every_required_key(tmp_path):
    problems = problems_of(tmp_path, "")
    assert sorted(p.split(": ")[1] for p in problems) == sorted(
        [
            "[jumpseller] base_url",
            "[jumpseller] login",
            "[jumpseller] auth_token",
            "[igest] base_url",
            "[igest] integration_key",
            "[igest] security_code",
        ]
    )
    assert all(": missing" in p for p in problems)


def test_empty_string_for_a_required_key_is_missing(tmp_path):
    problems = problems_of(tmp_path, MINIMAL.replace(f'"{TOKEN}"', '""'))
    assert problems == [
        "config.toml: [jumpseller] auth_token: missing (or set IGEST_SYNC_JUMPSELLER_AUTH_TOKEN)"
    ]


def test_missing_file_suggests_init(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nowhere" / "config.toml", env={})
    assert "igest-sync init" in caught.value.hint
    # Said once: no problem line repeating that the file is not found.
    assert str(caught.value) == f"No configuration file at {tmp_path / 'nowhere' / 'config.toml'}"


def test_bad_toml_names_the_line(tmp_path):
    text = MINIMAL.replace('login = "mystore"', 'login = "mystore')
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith("config.toml: not valid TOML:") and "line 3" in problems[0]


def test_non_utf8_file_is_a_config_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'[jumpseller]\nlogin = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == ["config.toml: not UTF-8 text"]


def test_directory_instead_of_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        ("invoice", 'document_type = "NC"', "[invoice] document_type: expected one of FR, FT, FS"),
        ("invoice", 'fs_fallback = "FS"', "[invoice] fs_fallback: expected one of FR, FT, fail"),
        ("invoice", 'vat_region = "ES"', "[invoice] vat_region: expected one of PT, PT-AC, PT-MA"),
        ("invoice", 'product_exemption_code = "M03"', "[invoice] product_exemption_code:"),
        ("invoice", 'shipping_exemption_code = "X1"', "[invoice] shipping_exemption_code:"),
        ("products", 'exemption_code = "M08"', "[products] exemption_code:"),
        ("invoice", 'default_payment_method = "PP"', "[invoice] default_payment_method:"),
        ("invoice", 'payment_methods = { paypal = "PP" }', "[invoice.payment_methods] paypal:"),
        ("invoice", "payment_methods = { paypal = 3 }", "[invoice.payment_methods] paypal:"),
        (
            "invoice",
            'invalid_nif = "ignore"',
            "[invoice] invalid_nif: expected one of fail, consumer",
        ),
        ("stock", 'direction = "both"', "[stock] direction: expected one of igest_to_jumpseller"),
        (
            "stock",
            "max_zero_share = 1.5",
            "[stock] max_zero_share: expected a value between 0 and 1",
        ),
        ("stock", "max_zero_share = -0.1", "[stock] max_zero_share: expected a value between 0"),
        ("stock", 'max_zero_share = "lots"', "[stock] max_zero_share: expected a number"),
        ("stock", "jumpseller_location_id = 0", "[stock] jumpseller_location_id: expected a value"),
        ("stock", "enabled = 1", "[stock] enabled: expected true or false, got 1"),
        ("invoice", "concurrency = 0", "[invoice] concurrency: expected a value between 1 and 8"),
        ("invoice", "concurrency = 9", "[invoice] concurrency: expected a value between 1 and 8"),
        ("invoice", "concurrency = 2.5", "[invoice] concurrency: expected an integer, got 2.5"),
        ("invoice", "email_max_age_days = -1", "[invoice] email_max_age_days: expected a value"),
        ("invoice", 'series = ""', "[invoice] series: must not be empty"),
        ("invoice", 'credit_reason = " "', "[invoice] credit_reason: must not be empty"),
        ("invoice", "credit_lookback_days = 0", "[invoice] credit_lookback_days: expected a value"),
        ("invoice", 'credit_lookback_days = "90"', "[invoice] credit_lookback_days: expected an"),
        ("products", "vat_rate = 22", "[products] vat_rate: 22 is not a VAT rate in PT"),
        ("products", "vat_rate = 0", "[products] exemption_code: missing; required when vat_rate"),
    ],
)
def test_bad_values_are_reported(tmp_path, section, line, expected):
    problems = problems_of(tmp_path, with_key(section, line))
    assert len(problems) == 1, problems
    assert problems[0].startswith("config.toml: " + expected), problems[0]


@pytest.mark.parametrize("value", ['"2026-13-01"', '"20261101"', "2026-11-01T10:00:00", "5"])
def test_start_date_must_be_a_date(tmp_path, value):
    text = MINIMAL.replace("start_date = 2026-11-01", f"start_date = {value}")
    problems = problems_of(tmp_path, text)
    assert (
        len(problems) == 1
        and "[invoice] start_date: expected a date like 2026-11-01" in problems[0]
    )


def test_vat_rate_is_checked_against_the_configured_region(tmp_path):
    text = with_key("invoice", 'vat_region = "PT-AC"', with_key("products", "vat_rate = 23"))
    problems = problems_of(tmp_path, text)
    assert problems == [
        (
            "config.toml: [products] vat_rate: 23 is not a VAT rate in PT-AC; "
            "use 16, 9, 4, or 0 with an exemption code"
        )
    ]


def test_section_that_is_not_a_table(tmp_path):
    problems = problems_of(tmp_path, "stock = 5\n" + MINIMAL)
    assert problems == ["config.toml: stock: expected a [stock] table, got an integer"]


def test_top_level_key_is_unknown(tmp_path):
    problems = problems_of(tmp_path, 'login = "x"\n' + MINIMAL)
    assert len(problems) == 1 and problems[0].startswith("config.toml: login: unknown key")


def test_secret_values_never_appear_in_problems(tmp_path):
    text = MINIMAL.replace(f'"{TOKEN}"', "8675309123").replace(
        "start_date = 2026-11-01", 'start_date = "soon"\nconcurrency = 99'
    )
    text = text.replace(f'security_code = "{SECURITY}"', f"security_code = ['{SECURITY}']")
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    rendered = str(caught.value) + repr(caught.value.problems)
    assert "[jumpseller] auth_token: expected a string, got an integer" in rendered
    assert "[igest] security_code: expected a string, got an array" in rendered
    for secret in ("8675309123", SECURITY, KEY):
        assert secret not in rendered


# --------------------------------------------------------------------------------------------
# URLs


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://127.9.9.9/v1",
        "http://[::1]:9000/v1",
        "http://localhost:8080/v1/",
        "https://igest.example.pt/v1",
    ],
)
def test_urls_accepted(tmp_path, url):
    text = MINIMAL.replace("https://igest.example.pt/api/v1", url)
    config, _ = load_text(tmp_path, text)
    assert config.igest.base_url == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://igest.example.pt/v1", "refusing plain http:// for igest.example.pt"),
        ("http://127.0.0.1.evil.example/v1", "refusing plain http://"),
        ("http://10.0.0.1/v1", "refusing plain http://"),
        ("ftp://igest.example.pt/v1", "expected a URL like https://"),
        ("igest.example.pt/v1", "expected a URL like https://"),
        ("https://igest.example.pt/v1?x=1", "must not contain a query"),
        ("https://igest.example.pt:99999/v1", "expected a URL like https://"),
        ("https://u:pw@[::1/v1", "expected a URL like https://host/path, got a value with an @"),
    ],
)
def test_urls_refused(tmp_path, url, expected):
    problems = problems_of(tmp_path, MINIMAL.replace("https://igest.example.pt/api/v1", url))
    assert len(problems) == 1 and problems[0].startswith("config.toml: [igest] base_url: ")
    assert expected in problems[0]


def test_url_with_credentials_is_refused_without_echoing_them(tmp_path):
    url = "https://admin:pa55word@igest.example.pt/v1"
    problems = problems_of(tmp_path, MINIMAL.replace("https://igest.example.pt/api/v1", url))
    assert len(problems) == 1 and "user name or password" in problems[0]
    assert "pa55word" not in problems[0]


@pytest.mark.parametrize(
    "url",
    [
        "htps://igest.example.pt/v1?key=IgQueryKeySECRET77",  # a typo in the scheme
        "https://127.0.0.1:434410/v1?key=IgQueryKeySECRET77",  # a port out of range
        "https://igest.example.pt:99999/v1#key=IgQueryKeySECRET77",
    ],
)
def test_a_url_that_does_not_parse_is_refused_without_its_query(tmp_path, url):
    # Refused for another reason, the URL was echoed whole: the token in its query with it.
    problems = problems_of(tmp_path, MINIMAL.replace("https://igest.example.pt/api/v1", url))
    assert len(problems) == 1 and "expected a URL like https://host/path" in problems[0]
    assert "SECRET" not in problems[0] and "IgQuery" not in problems[0]
    assert repr(url.split("?")[0].split("#")[0]) in problems[0]
    assert "its query or fragment not shown" in problems[0]


# --------------------------------------------------------------------------------------------
# Environment


def test_environment_wins_over_the_file(tmp_path):
    env = {
        "IGEST_SYNC_JUMPSELLER_AUTH_TOKEN": "env-token",
        "IGEST_SYNC_IGEST_SECURITY_CODE": "env-code",
        "IGEST_SYNC_JUMPSELLER_LOGIN": "env-login",
        "IGEST_SYNC_IGEST_INTEGRATION_KEY": "env-key",
    }
    config, _ = load_text(tmp_path, MINIMAL, env)
    assert config.jumpseller.auth_token == "env-token"
    assert config.jumpseller.login == "env-login"
    assert config.jumpseller.store == "env-login"
    assert (config.igest.security_code, config.igest.integration_key) == ("env-code", "env-key")


def test_key_given_by_the_environment_is_not_missing(tmp_path):
    text = MINIMAL.replace(f'auth_token = "{TOKEN}"\n', "").replace(
        f'security_code = "{SECURITY}"\n', ""
    )
    assert len(problems_of(tmp_path, text)) == 2
    env = {
        "IGEST_SYNC_JUMPSELLER_AUTH_TOKEN": "env-token",
        "IGEST_SYNC_IGEST_SECURITY_CODE": "env-code",
    }
    config, _ = load_text(tmp_path, text, env)
    assert (config.jumpseller.auth_token, config.igest.security_code) == ("env-token", "env-code")


def test_empty_environment_variable_does_not_override(tmp_path):
    config, _ = load_text(tmp_path, MINIMAL, {"IGEST_SYNC_JUMPSELLER_AUTH_TOKEN": ""})
    assert config.jumpseller.auth_token == TOKEN


def test_process_environment_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("IGEST_SYNC_IGEST_SECURITY_CODE", "from-os-environ")
    config, _ = load_config(write(tmp_path, MINIMAL))
    assert config.igest.security_code == "from-os-environ"


# --------------------------------------------------------------------------------------------
# Permissions


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_file_readable_by_others_gives_a_warning_with_the_fix(tmp_path):
    path = write(tmp_path, MINIMAL, mode=0o644)
    _config, warnings = load_config(path, env={})
    assert len(warnings) == 1
    assert f"chmod 600 {path}" in warnings[0]
    assert not any(s in warnings[0] for s in (TOKEN, SECURITY, KEY))


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_group_writable_file_also_warns(tmp_path):
    _config, warnings = load_config(write(tmp_path, MINIMAL, mode=0o620), env={})
    assert len(warnings) == 1 and "chmod 600" in warnings[0]


def test_on_windows_there_is_no_mode_to_warn_about(tmp_path, monkeypatch):
    # Windows reports made-up mode bits (0o666 for any writable file); the profile's ACL is
    # what keeps the file private there, so the POSIX warning would only be noise.
    import types

    import igest_sync.config.settings as config_module

    path = write(tmp_path, MINIMAL, mode=0o666)
    monkeypatch.setattr(config_module, "os", types.SimpleNamespace(name="nt", environ={}))
    _config, warnings = load_config(path, env={})
    assert warnings == []


# --------------------------------------------------------------------------------------------
# Writing


def sample_values() -> dict:
    return init_values(
        jumpseller_login="mystore",
        jumpseller_auth_token=TOKEN,
        igest_base_url="https://igest.example.pt/api/v1",
        igest_integration_key=KEY,
        igest_security_code=SECURITY,
        start_date=date(2026, 11, 1),
        series="B",
        warehouse="ARM1",
    )


@pytest.fixture
def open_umask():
    """A umask that would leave a new file world-readable, to prove the mode is set explicitly."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_write_config_creates_parents_and_a_0600_file(tmp_path, open_umask):
    path = tmp_path / "a" / "b" / "config.toml"
    write_config(path, sample_values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config, warnings = load_config(path, env={})
    assert warnings == []
    assert config.invoice.series == "B" and config.invoice.warehouse == "ARM1"
    assert config.igest.security_code == SECURITY


def test_write_config_refuses_to_overwrite(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("# mine\n")
    with pytest.raises(ConfigError) as caught:
        write_config(path, sample_values())
    assert "already exists" in caught.value.message
    assert path.read_text() == "# mine\n"


def test_write_config_under_a_file_names_it_never_says_the_config_exists(tmp_path):
    # IGEST_SYNC_HOME set to a file: the folder cannot be made. It used to read "config.toml
    # already exists; not overwriting it", for a file that did not exist.
    home = tmp_path / "home"
    home.write_text("not a folder")
    with pytest.raises(ConfigError) as refused:
        write_config(home / "config.toml", sample_values())
    assert "is a file, not a folder" in refused.value.message
    assert "already exists" not in refused.value.message


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_write_config_overwrite_replaces_and_tightens_the_mode(tmp_path, open_umask):
    path = tmp_path / "config.toml"
    path.write_text("# old\n")
    path.chmod(0o644)
    write_config(path, sample_values(), overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path, env={})[0].invoice.series == "B"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary file left


def test_write_config_drops_unset_values(tmp_path):
    path = tmp_path / "config.toml"
    values = sample_values()
    values["stock"] = {"warehouse": None, "enabled": False}
    write_config(path, values)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["stock"] == {"enabled": False}


# --------------------------------------------------------------------------------------------
# init_values


def test_init_values_round_trip(tmp_path):
    values = init_values(
        jumpseller_login="mystore",
        jumpseller_auth_token=TOKEN,
        igest_base_url="http://127.0.0.1:8001/v1",
        igest_integration_key=KEY,
        igest_security_code=SECURITY,
        document_type="FT",
        series="C",
        warehouse="ARM9",
        vat_region="PT-AC",
        products_vat_rate=Decimal("16"),
        store="myshop",
    )
    path = tmp_path / "config.toml"
    write_config(path, values)
    config, warnings = load_config(path, env={})
    assert warnings == []
    assert config.jumpseller.base_url == DEFAULT_JUMPSELLER_URL
    assert (config.jumpseller.login, config.jumpseller.auth_token, config.jumpseller.store) == (
        "mystore",
        TOKEN,
        "myshop",
    )
    assert config.igest.base_url == "http://127.0.0.1:8001/v1"
    inv = config.invoice
    assert (inv.document_type, inv.series, inv.warehouse, inv.vat_region) == (
        "FT",
        "C",
        "ARM9",
        "PT-AC",
    )
    assert config.products.vat_rate == Decimal("16")


def test_init_values_start_date_defaults_to_today_in_lisbon(monkeypatch):
    # 23:30 UTC on 1 July is 00:30 on 2 July in Lisbon (summer time): orders paid from then on
    # are dated the 2nd, so that is the first day; the machine's own zone plays no part.
    class SummerNight(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 7, 1, 23, 30, tzinfo=UTC).astimezone(tz)

    monkeypatch.setattr("igest_sync.config.settings.datetime", SummerNight)
    values = init_values(
        jumpseller_login="m",
        jumpseller_auth_token="t",
        igest_base_url="https://i.example/v1",
        igest_integration_key="k",
        igest_security_code="s",
    )
    assert values["invoice"]["start_date"] == date(2026, 7, 2)


def test_init_values_leaves_out_credentials_for_the_environment(tmp_path):
    values = init_values(
        jumpseller_login="mystore",
        jumpseller_auth_token=None,
        igest_base_url="https://igest.example.pt/v1",
        igest_integration_key=KEY,
        igest_security_code=None,
    )
    assert "auth_token" not in values["jumpseller"]
    assert "security_code" not in values["igest"]
    path = tmp_path / "config.toml"
    write_config(path, values)
    with pytest.raises(ConfigError):
        load_config(path, env={})
    env = {"IGEST_SYNC_JUMPSELLER_AUTH_TOKEN": "t", "IGEST_SYNC_IGEST_SECURITY_CODE": "s"}
    assert load_config(path, env=env)[0].igest.security_code == "s"


def test_init_values_refuses_values_that_would_not_load():
    with pytest.raises(ConfigError) as caught:
        init_values(
            jumpseller_login="m",
            jumpseller_auth_token="t",
            igest_base_url="http://igest.example.pt/v1",
            igest_integration_key="k",
            igest_security_code="s",
            document_type="XX",
        )
    assert len(caught.value.problems) == 2
    assert any("[igest] base_url" in p for p in caught.value.problems)
    assert any("[invoice] document_type" in p for p in caught.value.problems)


# --------------------------------------------------------------------------------------------
# redact and secrets


def test_redact_replaces_every_secret_everywhere():
    text = f"token {TOKEN} and {SECURITY}, again {TOKEN}"
    assert redact(text, [TOKEN, SECURITY]) == "token *** and ***, again ***"


def test_redact_hides_a_secret_that_contains_another_whole():
    assert redact("x abcdef y", ["abc", "abcdef"]) == "x *** y"


def test_redact_ignores_empty_secrets_and_leaves_other_text():
    assert redact("nothing to hide", ["", "absent"]) == "nothing to hide"


def test_redact_hides_the_url_encoded_form():
    assert redact("GET /x?code=a%2Fb%3D", ["a/b="]) == "GET /x?code=***"


def test_config_secrets_lists_the_credentials(tmp_path):
    config, _ = load_text(tmp_path, MINIMAL)
    # The Jumpseller pair too: a server may echo its Basic value's base64 without the scheme.
    assert sorted(config.secrets()) == sorted([TOKEN, f"mystore:{TOKEN}", SECURITY, KEY])


# -- sales beyond Portugal (issue 13) ----------------------------------------------------------


def test_cross_border_keys_are_read(tmp_path):
    text = with_key(
        "invoice",
        'oss = true\ncopy_order_notes = true\nsources = ["checkout", "Admin"]\n'
        'exemptions = { eu_goods = "M16", export_goods = "M05", domestic_shipping = "" }\n'
        'oss_rates = { ES = ["21", "10"], EL = [24] }',
    )
    text = with_key("vies", 'base_url = "http://127.0.0.1:9000/vies/"', text)
    config, warnings = load_text(tmp_path, text)
    inv = config.invoice
    assert inv.oss and inv.copy_order_notes and inv.sources == ("checkout", "admin")
    assert inv.exemptions == {"eu_goods": "M16", "export_goods": "M05"}
    assert inv.oss_rates == {"ES": (Decimal("21"), Decimal("10")), "GR": (Decimal("24"),)}
    assert config.vies.base_url == "http://127.0.0.1:9000/vies"
    assert warnings == []


def test_cross_border_defaults(tmp_path):
    config, _ = load_text(tmp_path, MINIMAL)
    inv = config.invoice
    assert (inv.oss, inv.copy_order_notes, inv.sources, inv.exemptions, inv.oss_rates) == (
        False,
        False,
        None,
        {},
        {},
    )
    assert config.vies.base_url == "https://ec.europa.eu/taxation_customs/vies/rest-api"
    empty, _ = load_text(tmp_path, with_key("invoice", "sources = []"))
    assert empty.invoice.sources is None  # an empty list is "not set", never "invoice nothing"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            'exemptions = { eu_good = "M16" }',
            "[invoice.exemptions] eu_good: unknown key (did you mean eu_goods?)",
        ),
        (
            'exemptions = { eu_goods = "M08" }',
            "[invoice.exemptions] eu_goods: 'M08' is not on AT's list",
        ),
        ('oss_rates = { PT = ["23"] }', "[invoice.oss_rates] PT: not another EU Member State"),
        ('oss_rates = { US = ["10"] }', "[invoice.oss_rates] US: not another EU Member State"),
        ('oss_rates = { ES = ["abc"] }', "[invoice.oss_rates] ES: expected VAT rates in percent"),
        ('oss_rates = { ES = ["120"] }', "[invoice.oss_rates] ES: expected VAT rates in percent"),
        ('sources = "pos"', "[invoice] sources: expected an array of strings"),
        ('oss = "yes"', "[invoice] oss: expected true or false"),
    ],
)
def test_bad_cross_border_values_are_reported(tmp_path, line, expected):
    problems = problems_of(tmp_path, with_key("invoice", line))
    assert len(problems) == 1, problems
    assert problems[0].startswith("config.toml: " + expected), problems[0]


def test_vies_url_must_be_https_off_loopback(tmp_path):
    problems = problems_of(tmp_path, with_key("vies", 'base_url = "http://vies.example.eu"'))
    assert len(problems) == 1 and "[vies] base_url: refusing plain http://" in problems[0]


def test_older_exemption_key_shadowed_by_the_new_one_is_a_warning(tmp_path):
    text = with_key(
        "invoice", 'product_exemption_code = "M09"\nexemptions = { domestic_goods = "M07" }'
    )
    _config, warnings = load_text(tmp_path, text)
    assert len(warnings) == 1 and "product_exemption_code: ignored" in warnings[0]


def test_an_unknown_source_is_a_warning(tmp_path):
    _config, warnings = load_text(tmp_path, with_key("invoice", 'sources = ["chekout"]'))
    assert len(warnings) == 1 and "'chekout'" in warnings[0]


# --------------------------------------------------------------------------------------------
# [serve] and the hooks token (issue 19)


def test_serve_defaults_and_the_hook_path_without_a_public_url(tmp_path):
    config, _ = load_text(tmp_path, MINIMAL)
    assert config.serve == ServeConfig(
        host="127.0.0.1", port=8787, public_url=None, sweep_minutes=10
    )
    assert config.serve.hook_path == "/webhooks/jumpseller"
    assert config.jumpseller.hooks_token is None


@pytest.mark.parametrize(
    "url, path",
    [
        ("https://shop.example.pt/hooks/jumpseller", "/hooks/jumpseller"),
        ("https://shop.example.pt/hooks/jumpseller/", "/hooks/jumpseller"),
        ("https://hooks.example.pt", "/"),
        ("http://127.0.0.1:8787/in", "/in"),
    ],
)
def test_serve_receives_on_the_path_of_public_url(tmp_path, url, path):
    text = with_key("serve", f'public_url = "{url}"\nport = 9000\nsweep_minutes = 3')
    config, _ = load_text(tmp_path, text)
    assert config.serve.hook_path == path
    assert (config.serve.port, config.serve.sweep_minutes) == (9000, 3)


@pytest.mark.parametrize(
    "line, expected",
    [
        ('public_url = "http://shop.example.pt/hooks"', "refusing plain http://"),
        ("port = 0", "[serve] port: expected a value between 1 and 65535, got 0"),
        ("port = 70000", "[serve] port: expected a value between 1 and 65535"),
        ("sweep_minutes = 0", "[serve] sweep_minutes: expected a value between 1 and 1440"),
        ('host = " "', "[serve] host: must not be empty"),
        ("sweep_minute = 5", "[serve] sweep_minute: unknown key (did you mean sweep_minutes?)"),
    ],
)
def test_serve_bad_values_are_named(tmp_path, line, expected):
    problems = problems_of(tmp_path, with_key("serve", line))
    assert len(problems) == 1 and expected in problems[0], problems


def test_hooks_token_from_the_environment_wins_and_counts_as_a_secret(tmp_path):
    text = with_key("jumpseller", 'hooks_token = "file-hooks-token"')
    config, _ = load_text(tmp_path, text)
    assert config.jumpseller.hooks_token == "file-hooks-token"
    env = {"IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN": "env-hooks-token"}
    config, _ = load_text(tmp_path, text, env)
    assert config.jumpseller.hooks_token == "env-hooks-token"
    assert "env-hooks-token" in config.secrets()
    assert redact("signed with env-hooks-token", config.secrets()) == "signed with ***"


def test_a_mistyped_hooks_token_is_not_echoed(tmp_path):
    problems = problems_of(tmp_path, with_key("jumpseller", "hooks_token = 918273645"))
    assert problems == [
        "config.toml: [jumpseller] hooks_token: expected a string, got an integer; "
        + 'put it in quotes: hooks_token = "<the same digits>"'
    ]


def test_a_string_setting_written_as_a_number_is_told_to_be_quoted(tmp_path):
    # iGEST's security codes are digits: unquoted, TOML reads a number, and the message said
    # what was wrong but not how to write it.
    text = MINIMAL.replace(f'security_code = "{SECURITY}"', "security_code = 36481602")
    problems = problems_of(tmp_path, text)
    assert problems == [
        "config.toml: [igest] security_code: expected a string, got an integer; "
        + 'put it in quotes: security_code = "<the same digits>"'
    ]
    assert "36481602" not in problems[0]  # a secret: never echoed
    problems = problems_of(tmp_path, with_key("jumpseller", "store = 2026"))
    assert problems == [
        'config.toml: [jumpseller] store: expected a string, got 2026; put it in quotes: store = "2026"'
    ]


def test_a_credential_is_named_where_it_came_from(tmp_path):
    """A refused credential's hint names the variable it came from, or the file's key."""
    path = tmp_path / "config.toml"
    path.write_text(
        '[jumpseller]\nbase_url = "https://api.jumpseller.com/v1"\nlogin = "shop"\n'
        'auth_token = "file-token"\n'
        '[igest]\nbase_url = "https://igest.example.pt/v1"\nintegration_key = "KEY"\n'
        'security_code = "1234"\n[invoice]\nstart_date = 2026-11-01\n'
    )
    env = {"IGEST_SYNC_IGEST_SECURITY_CODE": "5678", "IGEST_SYNC_JUMPSELLER_AUTH_TOKEN": ""}
    config, _ = load_config(path, env=env)
    assert config.where("igest", "security_code").startswith("IGEST_SYNC_IGEST_SECURITY_CODE")
    assert config.where("igest", "integration_key") == f"igest.integration_key in {path}"
    # An empty variable does not win over the file, so the file is named.
    assert config.where("jumpseller", "auth_token") == f"jumpseller.auth_token in {path}"


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("igest", "security_code", "SC\\\\SECRETbsç"),
        ("igest", "integration_key", "key\\tSECRET"),
        ("alerts", "smtp_password", "PãoSECRET2026"),
    ],
)
def test_a_secret_that_cannot_be_sent_is_a_config_error_that_does_not_show_it(
    tmp_path, section, key, value
):
    # Sent as an HTTP header or in SMTP's login (ASCII only): every run ended in an internal
    # error (exit 70) instead, whose text could show the value with its backslash doubled.
    line = f'{key} = "{value}"'
    if section == "alerts":
        text = with_key("alerts", f'smtp_host = "smtp.example.pt"\n{line}', MINIMAL)
    else:
        text = "\n".join(
            line if row.startswith(f"{key} =") else row for row in MINIMAL.splitlines()
        )
    problems = problems_of(tmp_path, text)
    [problem] = [p for p in problems if f"[{section}] {key}" in p]
    assert "printable ASCII" in problem and "SECRET" not in " ".join(problems)


def test_a_base_url_with_a_query_is_refused_without_echoing_the_query(tmp_path):
    # A credential pasted into the URL must not reach the terminal or the log.
    text = MINIMAL.replace(
        "https://igest.example.pt/api/v1", "https://igest.example.pt/api/v1?security_code=S3CRET"
    )
    [problem] = problems_of(tmp_path, text)
    assert "[igest] base_url" in problem and "S3CRET" not in problem
    assert "'https://igest.example.pt/api/v1'" in problem  # what to write instead
