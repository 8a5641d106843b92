"""Reading publiccode.yml: YAML 1.2, versions, legacy keys, every problem at once."""

from __future__ import annotations

from typing import Any

from registry.formats import publiccode

GOOD = """\
publiccodeYmlVersion: "0"
name: Smart Kampung
url: https://git.example/banyuwangi/smart-kampung
platforms: [web, android]
categories: [document-management]
developmentStatus: stable
softwareType: standalone/web
description:
  id:
    shortDescription: Layanan administrasi desa secara daring
    longDescription: >
      Warga mengurus surat keterangan dari desa tanpa datang ke kantor desa. Aplikasi ini
      melacak setiap permohonan dari pengajuan sampai surat ditandatangani kepala desa.
    features: [Surat keterangan, Pelacakan permohonan]
  en:
    shortDescription: Online village administration services
    longDescription: >
      Citizens request certificates from their village without visiting the village office.
      The app tracks every request from submission until the village head signs the letter.
    features: [Certificates, Request tracking]
legal:
  license: EUPL-1.2
maintenance:
  type: internal
  contacts:
    - name: Diskominfo Banyuwangi
      email: kominfo@banyuwangi.example
localisation:
  localisationReady: true
  availableLanguages: [id, en]
"""


def rules(parsed):
    return {(i.path, i.rule) for i in parsed.issues}


def test_a_clean_current_file_has_no_issue():
    parsed = publiccode.parse(GOOD)
    assert parsed.issues == []
    assert parsed.accepted(strict=True)
    assert parsed.fields["description"]["en"]["features"] == ["Certificates", "Request tracking"]


def test_yes_is_a_string_in_yaml_1_2():
    parsed = publiccode.parse(GOOD.replace("localisationReady: true", "localisationReady: yes"))
    assert ("localisation.localisationReady", "yaml-1.1-boolean") in rules(parsed)
    assert parsed.errors
    assert not parsed.accepted(strict=True)
    # Lenient: read as the boolean it meant.
    assert parsed.accepted(strict=False)
    assert parsed.document["localisation"]["localisationReady"] is True


def test_unquoted_version_is_a_float_and_an_error():
    parsed = publiccode.parse(GOOD.replace('"0"', "0.2"))
    assert ("publiccodeYmlVersion", "type") in rules(parsed)


def test_every_published_version_is_read():
    for version in ("0.1", "0.2", "0.2.2", "0.3", "0.4.0", "0.5", "0.6", "0.7", "0"):
        parsed = publiccode.parse(GOOD.replace('"0"', f'"{version}"'))
        assert parsed.accepted(strict=False), version
        assert parsed.document["publiccodeYmlVersion"] == "0"


def test_legacy_keys_are_mapped_with_a_warning_each():
    legacy = (
        GOOD.replace('publiccodeYmlVersion: "0"', 'publiccode-yaml-version: "0.1"')
        .replace("softwareType: standalone/web", "softwareType: standalone")
        .replace("  license: EUPL-1.2", "  license: EUPL-1.2\n  repoOwner: Kabupaten Banyuwangi")
        .replace(
            "    shortDescription: Online",
            "    genericName: Village office\n    shortDescription: Online",
        )  # fmt: skip
        + "it:\n  riuso:\n    codiceIPA: c_h501\n"
    )
    parsed = publiccode.parse(legacy)
    found = rules(parsed)
    assert ("publiccode-yaml-version", "legacy-key") in found
    assert ("softwareType", "legacy-value") in found
    assert ("legal.repoOwner", "deprecated") in found
    assert ("description.en.genericName", "deprecated") in found
    assert ("it", "lowercase-country") in found
    assert ("it.riuso.codiceIPA", "deprecated") in found
    assert parsed.document["softwareType"] == "standalone/other"
    assert parsed.document["organisation"] == {
        "uri": "urn:x-italian-pa:c_h501",
        "name": "Kabupaten Banyuwangi",
    }


def test_all_problems_are_reported_at_once_with_path_rule_and_value():
    broken = (
        GOOD.replace("developmentStatus: stable", "developmentStatus: finished")
        .replace("license: EUPL-1.2", "license: Not A Licence")
        .replace("releaseDate", "x")
        .replace("url: https", "releaseDate: 2021-31-01\nurl: https")
        .replace("[id, en]", "[id, pt_BR]")
    )
    parsed = publiccode.parse(broken)
    by_path = {i.path: i for i in parsed.errors}
    assert by_path["developmentStatus"].value == "finished"
    assert by_path["legal.license"].rule == "spdx"
    assert by_path["releaseDate"].value == "2021-31-01"
    assert by_path["localisation.availableLanguages[1]"].value == "pt_BR"
    assert parsed.accepted(strict=False)
    assert not parsed.accepted(strict=True)


def test_length_limits_count_graphemes():
    flags = "🇮🇩" * 150  # 150 graphemes, 300 code points
    parsed = publiccode.parse(GOOD.replace("Online village administration services", flags))
    assert ("description.en.shortDescription", "max-length") not in rules(parsed)
    parsed = publiccode.parse(GOOD.replace("Online village administration services", "x" * 151))
    assert ("description.en.shortDescription", "max-length") in rules(parsed)


def test_a_line_break_is_one_grapheme_even_as_cr_lf():
    checker = publiccode._Checker()
    for text, count in [("ab\r\ncd", 5), ("ab\n\rcd", 6), ("é\r\n", 2), ("e\u0301\r\n", 2)]:
        assert checker.graphemes("x", text, high=100) == count
    assert checker.graphemes("x", "a\r\n" * 75, high=150) == 150
    assert not checker.issues
    assert checker.graphemes("x", "a\r\n" * 75 + "b", high=150) == 151
    assert [i.rule for i in checker.issues] == ["max-length"]


def test_unknown_and_extension_keys_are_kept():
    parsed = publiccode.parse(GOOD + "x-lumbung-demo:\n  a: 1\ninstallations: [helm]\n")
    assert parsed.document["x-lumbung-demo"] == {"a": 1}
    assert parsed.document["installations"] == ["helm"]
    assert ("x-lumbung-demo", "extension-key") in rules(parsed)


def test_lenient_needs_name_url_and_one_description():
    parsed = publiccode.parse('publiccodeYmlVersion: "0.2"\nname: Only a name\n')
    assert not parsed.accepted(strict=False)
    assert {i.path for i in parsed.fatal} == {"url", "description"}


def test_not_yaml_or_not_utf8_is_one_clear_issue():
    assert publiccode.parse(b"name: [unclosed\n").fatal[0].rule == "yaml"
    assert publiccode.parse(b"name: \xff\xfe\n").fatal[0].rule == "encoding"
    assert publiccode.parse(b"a: 1\n---\nb: 2\n").fatal[0].rule == "documents"
    assert publiccode.parse(b"a: 1\na: 2\n").fatal[0].rule == "yaml"


def test_export_of_a_clean_file_passes_the_official_rules():
    parsed = publiccode.parse(GOOD)
    fields: dict[str, Any] = {k: parsed.fields.get(k) for k in (
        "name", "url", "landing_url", "logo", "description", "categories", "software_type",
        "development_status", "license", "platforms", "maintenance", "localisation")}  # fmt: skip
    view = publiccode.AppView(
        document=parsed.document,
        organisation_uri="https://lumbung.example/api/v1/publishers/1",
        organisation_name="Kabupaten Banyuwangi",
        **fields,
    )
    document = publiccode.document_of(view)
    assert publiccode.check(document) == []
    assert set(document["description"]) == {"id", "en"}
