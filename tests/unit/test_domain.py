import pytest
from bannercheck.domain import DomainError, to_domain
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("text", "ascii_name", "unicode_name"),
    [
        ("example.com", "example.com", "example.com"),
        ("  EXAMPLE.com.  ", "example.com", "example.com"),
        ("Bücher.Example", "xn--bcher-kva.example", "bücher.example"),
        ("faß.de", "xn--fa-hia.de", "faß.de"),  # IDNA 2008: no transitional mapping
        ("xn--bcher-kva.example", "xn--bcher-kva.example", "bücher.example"),
        ("中国.cn", "xn--fiqs8s.cn", "中国.cn"),
        ("a-b.c-d.example", "a-b.c-d.example", "a-b.c-d.example"),
        ("x" * 63 + ".com", "x" * 63 + ".com", "x" * 63 + ".com"),
    ],
)
def test_valid_domains(text: str, ascii_name: str, unicode_name: str) -> None:
    domain = to_domain(text)
    assert (domain.ascii, domain.unicode) == (ascii_name, unicode_name)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Give a domain"),
        ("   ", "Give a domain"),
        ("https://example.com/", "URL"),
        ("ftp://example.com", "URL"),
        ("postmaster@example.com", "e-mail address"),
        ("192.0.2.1", "IP address"),
        ("[192.0.2.1]", "IP address"),
        ("2001:db8::1", "IP address"),
        ("x" * 64 + ".com", "at most 63"),
        (".".join(["a" * 60] * 5), "at most 253"),
        ("exa mple.com", "characters"),
        ("ex_ample.com", "characters"),
        ("a..b.com", "empty label"),
        (".example.com", "empty label"),
        ("example.com..", "empty label"),
        ("-example.com", "hyphen"),
        ("example-.com", "hyphen"),
        ("localhost", "fully qualified"),
        ("example.123", "numeric"),
        ("xn--zz.com", "not a valid"),
        ("example.com/path", "characters"),
    ],
)
def test_bad_input_is_refused_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(DomainError) as info:
        to_domain(text)
    assert says in str(info.value)


@given(st.text(max_size=300))
def test_any_text_gives_a_domain_or_a_domain_error(text: str) -> None:
    try:
        domain = to_domain(text)
    except DomainError as exc:
        assert str(exc)
        return
    assert len(domain.ascii) <= 253
    labels = domain.ascii.split(".")
    assert len(labels) >= 2
    assert all(0 < len(label) <= 63 for label in labels)
    assert all(not label.startswith("-") and not label.endswith("-") for label in labels)
    assert domain.ascii == domain.ascii.lower() and domain.ascii.isascii()
    # Idempotent: the ASCII form and the Unicode form give the same domain.
    assert to_domain(domain.ascii) == domain
    assert to_domain(domain.unicode).ascii == domain.ascii


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.lists(_LABEL, min_size=1, max_size=4), st.sampled_from(["com", "org", "example"]))
def test_ldh_names_are_accepted_unchanged(labels: list[str], tld: str) -> None:
    name = ".".join([*labels, tld])
    if any(label[2:4] == "--" for label in labels):
        return  # reserved for A-labels: judged by IDNA
    assert to_domain(name.upper()).ascii == name
