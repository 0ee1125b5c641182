"""Docker's image reference grammar and normalisation (minidocker.image.reference)."""

import pytest

from minidocker.errors import InvalidReference
from minidocker.image.reference import DEFAULT_DOMAIN, DEFAULT_TAG, Reference, is_digest, parse

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "0123456789abcdef" * 4


# --- normalisation -----------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest"),
    [
        ("busybox", "docker.io", "library/busybox", "latest", None),
        ("library/busybox", "docker.io", "library/busybox", "latest", None),
        ("user/app", "docker.io", "user/app", "latest", None),
        ("user/app/x", "docker.io", "user/app/x", "latest", None),
        ("docker.io/busybox", "docker.io", "library/busybox", "latest", None),
        ("docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("index.docker.io/busybox", "docker.io", "library/busybox", "latest", None),
        ("index.docker.io/user/app", "docker.io", "user/app", "latest", None),
        ("quay.io/a/b:1.0", "quay.io", "a/b", "1.0", None),
        ("quay.io/single", "quay.io", "single", "latest", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", None),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
        ("[::1]/app", "[::1]", "app", "latest", None),
        ("127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest", None),
        (f"registry.example.com:443/team/app@{DIGEST}", "registry.example.com:443", "team/app", None, DIGEST),
        (f"busybox:1.36@{DIGEST}", "docker.io", "library/busybox", "1.36", DIGEST),
        (f"busybox@{DIGEST}", "docker.io", "library/busybox", None, DIGEST),
        ("a_b__c-d--e/x.y", "docker.io", "a_b__c-d--e/x.y", "latest", None),  # every separator
        ("Registry/app", "Registry", "app", "latest", None),  # uppercase first part: a host, like Docker
        ("busybox:Latest_1.0-rc", "docker.io", "library/busybox", "Latest_1.0-rc", None),
        ("localhost:5000", "docker.io", "library/localhost", "5000", None),  # no '/': ':5000' is a tag
    ],
)
def test_parse_normalises_like_docker(text, domain, path, tag, digest):
    assert parse(text) == Reference(domain, path, tag, digest)


def test_single_name_goes_to_docker_hub_library():
    ref = parse("busybox")
    assert ref.domain == DEFAULT_DOMAIN
    assert ref.name == "docker.io/library/busybox"
    assert str(ref) == "docker.io/library/busybox:latest"


def test_missing_tag_defaults_to_latest():
    assert parse("user/app").tag == DEFAULT_TAG == "latest"


def test_default_tag_false_keeps_tag_none():
    ref = parse("busybox", default_tag=False)
    assert ref.tag is None and ref.digest is None
    assert str(ref) == "docker.io/library/busybox"


def test_digest_only_reference_gets_no_default_tag():
    assert parse(f"busybox@{DIGEST}").tag is None


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}"),
        ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
    ],
)
def test_str_is_the_full_reference(text, full):
    assert str(parse(text)) == full
    assert parse(full) == parse(text)


# --- familiar forms ----------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("busybox", "busybox:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("library/busybox", "busybox:latest"),
        ("docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/busybox", "busybox:latest"),
        ("user/app:v2", "user/app:v2"),
        ("docker.io/library/a/b", "library/a/b:latest"),  # nested library path stays long
        ("quay.io/x/y:1.0", "quay.io/x/y:1.0"),
        ("localhost:5000/a", "localhost:5000/a:latest"),
        ("localhost/app", "localhost/app:latest"),
        (f"busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", f"busybox:1@{DIGEST}"),
    ],
)
def test_familiar_gives_dockers_short_form(text, familiar):
    assert parse(text).familiar() == familiar


@pytest.mark.parametrize(
    ("text", "familiar_name"),
    [
        ("busybox", "busybox"),
        ("user/app", "user/app"),
        ("quay.io/x/y", "quay.io/x/y"),
        ("localhost:5000/a", "localhost:5000/a"),
    ],
)
def test_familiar_name_drops_hub_domain_and_library(text, familiar_name):
    assert parse(text).familiar_name == familiar_name


@pytest.mark.parametrize("text", ["busybox:1.36", "user/app:v2", "quay.io/x/y:1.0", f"busybox@{DIGEST}"])
def test_familiar_round_trips_through_parse(text):
    ref = parse(text)
    assert ref.familiar() == text
    assert parse(ref.familiar()) == ref


# --- with_tag ----------------------------------------------------------------

def test_with_tag_replaces_tag():
    assert str(parse("quay.io/a/b:1.0").with_tag("2.0")) == "quay.io/a/b:2.0"


def test_with_tag_drops_digest():
    ref = parse(f"busybox:1@{DIGEST}").with_tag("stable")
    assert ref.digest is None
    assert str(ref) == "docker.io/library/busybox:stable"


@pytest.mark.parametrize("tag", ["", "ta g", ".x", "-x", "x" * 129, "a:b", "a\nb", "ü"])
def test_with_tag_rejects_invalid_tags(tag):
    with pytest.raises(InvalidReference) as info:
        parse("busybox").with_tag(tag)
    _assert_one_line_error(info.value)


def test_with_tag_accepts_the_longest_tag():
    assert parse("busybox").with_tag("x" * 128).tag == "x" * 128


# --- is_digest ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DIGEST, True),
        (OTHER_DIGEST, True),
        ("sha256:" + "A" * 64, False),
        ("sha256:" + "a" * 63, False),
        ("sha256:" + "a" * 65, False),
        ("sha512:" + "a" * 128, False),
        ("a" * 64, False),
        (DIGEST + "\n", False),
        ("", False),
        (None, False),
    ],
)
def test_is_digest_accepts_only_sha256_lowercase_hex(text, expected):
    assert is_digest(text) is expected


# --- invalid input -----------------------------------------------------------

def _assert_one_line_error(error):
    message = str(error)
    assert message.startswith("invalid reference format")
    assert "\n" not in message and "\r" not in message and "\x00" not in message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a\x00b",
        "busybox\x00",
        " busybox",
        "busybox ",
        "bus box",
        "busybox\n",
        "busybox\nrm",
        "busy\tbox",
        "../x",
        "./x",
        "a;rm -rf /",
        "$(id)",
        "UPPER",
        "library/Busybox",
        "a//b",
        "a/",
        "/a",
        ":tag",
        "@" + DIGEST,
        "name:",
        "name@",
        "name@sha256:short",
        "name@sha256:" + "A" * 64,
        "name@md5:" + "a" * 32,
        "name@" + DIGEST + "@" + DIGEST,
        "name:ta g",
        "name:" + "t" * 129,
        "name:.tag",
        "name:-tag",
        "name:a:b",
        "-leading",
        "_leading",
        "trailing.",
        "trailing-",
        "trailing_",
        "a___b",
        "a..b",
        "quay.io./x",
        ".quay.io/x",
        "-host.io/x",
        "host-.io/x",
        "host_name.io/x",
        "localhost:port/x",
        "localhost:5000:6000/x",
        "[::1/x",
        "[zz]:5000/x",
        "::1/x",
        "docker.io/",
        "ünïcode",
        "busybox:tag\u2028",
        "a" * 256,
        "quay.io/" + "a" * 248,
    ],
)
def test_invalid_references_raise_one_line_invalid_reference(text):
    with pytest.raises(InvalidReference) as info:
        parse(text)
    _assert_one_line_error(info.value)


def test_path_error_quotes_the_input():
    with pytest.raises(InvalidReference, match=r"^invalid reference format: '\.\./x'$"):
        parse("../x")


def test_uppercase_path_says_must_be_lowercase():
    with pytest.raises(InvalidReference) as info:
        parse("Busybox")
    assert str(info.value) == "invalid reference format: repository name (library/Busybox) must be lowercase"


def test_nul_is_escaped_not_embedded():
    with pytest.raises(InvalidReference) as info:
        parse("a\x00b")
    assert "\\x00" in str(info.value)


def test_bad_digest_message_names_the_digest():
    with pytest.raises(InvalidReference, match="invalid digest 'sha256:short'"):
        parse("name@sha256:short")


def test_bad_tag_message_names_the_tag():
    with pytest.raises(InvalidReference, match="invalid tag 'ta g'"):
        parse("name:ta g")


def test_name_longer_than_255_characters_is_rejected():
    with pytest.raises(InvalidReference, match="255"):
        parse("a" * 256)
    with pytest.raises(InvalidReference, match="255"):
        parse("quay.io/" + "a" * 248 + ":tag")


def test_name_of_exactly_255_characters_is_accepted():
    assert parse("quay.io/" + "a" * 247).path == "a" * 247


def test_very_long_input_is_abbreviated_in_the_message():
    with pytest.raises(InvalidReference) as info:
        parse("!" * 10_000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("value", [None, b"busybox", 42])
def test_non_text_input_raises_invalid_reference(value):
    with pytest.raises(InvalidReference):
        parse(value)
