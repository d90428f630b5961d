"""The rater's languages: every marked string is translated, the compiled catalogs (.mo,
committed, since a fresh machine has no gettext) hold what the .po files say, and
placeholders and markup survive translation."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from tests.conftest import IN_CI

LOCALE = Path(settings.BASE_DIR) / "locale"
TRANSLATED = [code for code, _ in settings.LANGUAGES if code != "en"]
PLACEHOLDER = re.compile(r"%\(\w+\)s")
TAG = re.compile(r"</?\w+[^>]*>")
needs_gettext = pytest.mark.skipif(
    not (shutil.which("msgfmt") and shutil.which("xgettext")) and not IN_CI,
    reason="needs GNU gettext (apt-get install gettext)",
)


def entries(po: Path) -> dict[tuple[str, str], str]:
    """(context, msgid) -> msgstr of a .po file's active entries (header left out)."""
    found: dict[tuple[str, str], str] = {}
    fields: dict[str, str] = {}
    current = ""
    fuzzy = False

    def flush() -> None:
        nonlocal fuzzy
        if fields.get("msgid"):
            assert not fuzzy, f"{po}: fuzzy entry {fields['msgid']!r}"
            found[fields.get("msgctxt", ""), fields["msgid"]] = fields.get("msgstr", "")
        fields.clear()
        fuzzy = False

    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("#~"):
            continue
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        match = re.match(r'(msgctxt|msgid|msgstr) "(.*)"$', line)
        if match:
            if match.group(1) in ("msgctxt", "msgid") and "msgstr" in fields:
                flush()
            current = match.group(1)
            fields[current] = unquote(match.group(2))
        elif line.startswith('"') and current:
            fields[current] += unquote(line[1:-1])
        elif not line.strip():
            flush()
            current = ""
    return found


def unquote(text: str) -> str:
    """A .po string's escapes undone (the file itself is UTF-8)."""
    escapes = {"n": "\n", "t": "\t"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), text)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_is_translated_with_its_placeholders_and_markup(language: str) -> None:
    table = entries(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert len(table) > 80
    for (_context, msgid), msgstr in table.items():
        assert msgstr, f"{language}: {msgid!r} has no translation"
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(msgstr)), msgid
        assert sorted(TAG.findall(msgid)) == sorted(TAG.findall(msgstr)), msgid


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_holds_what_the_po_file_says(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for (context, msgid), msgstr in entries(folder / "django.po").items():
        if context:
            assert compiled.pgettext(context, msgid) == msgstr, msgid
        else:
            assert compiled.gettext(msgid) == msgstr, msgid


@needs_gettext
def test_no_marked_string_is_missing_from_the_catalogs(tmp_path: Path) -> None:
    """makemessages over the code finds nothing the committed catalogs lack (as
    `makemigrations --check` does for models): run `make messages` after marking one."""
    # makemessages writes into any `locale/` folder of the directory it runs in, so it runs
    # in a copy of the code with a copy of the catalogs, never on the committed ones.
    work = tmp_path / "src"
    for folder in ("crowdtest", "templates", "static"):
        shutil.copytree(
            Path(settings.BASE_DIR) / folder,
            work / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.mo"),
        )
    for language in TRANSLATED:
        target = work / "locale" / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        shutil.copy(LOCALE / language / "LC_MESSAGES" / "django.po", target)
    here = os.getcwd()
    os.chdir(work)
    try:
        with override_settings(LOCALE_PATHS=[work / "locale"]):
            call_command(
                "makemessages",
                locale=TRANSLATED,
                no_location=True,
                verbosity=0,
            )
    finally:
        os.chdir(here)
    for language in TRANSLATED:
        fresh = entries(work / "locale" / language / "LC_MESSAGES" / "django.po")
        committed = entries(LOCALE / language / "LC_MESSAGES" / "django.po")
        assert set(fresh) == set(committed), set(fresh) ^ set(committed)


@needs_gettext
@pytest.mark.parametrize("language", TRANSLATED)
def test_the_po_files_compile_cleanly(language: str) -> None:
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    done = subprocess.run(
        ["msgfmt", "--check", "-o", os.devnull, str(po)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
