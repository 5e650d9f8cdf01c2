"""The query line: RIPE Database flags and a search key.

Clients (whois(1), scripts written against whois.ripe.net) send the RIPE flags through as they
are, so the flags, their long forms and the error numbers are RIPE's (QueryMessages of
RIPE-NCC/whois); an unknown flag is an error rather than silently ignored, so that a client
never mistakes an unfiltered answer for the one it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.whois.rpsl import OBJECT_TYPES, SOURCE_NAMES


class WhoisError(Exception):
    """A RIPE-style `%ERROR:nnn:` answer."""

    def __init__(self, code: int, title: str, *detail: str) -> None:
        super().__init__(f"{code}: {title}")
        self.code, self.title, self.detail = code, title, detail

    def text(self) -> str:
        lines = [f"%ERROR:{self.code}: {self.title}"]
        if self.detail:
            lines.append("%")
            lines += [f"% {line}" for line in self.detail]
        return "\n".join(lines) + "\n"


def invalid_option(reason: str | None = None) -> WhoisError:
    error = WhoisError(111, "invalid option supplied", "Use help query to see the valid options.")
    if reason:
        error.detail = (reason, *error.detail)
    return error


def no_entries(source: str) -> WhoisError:
    return WhoisError(101, "no entries found", f"No entries found in source {source}.")


def line_too_long() -> WhoisError:
    return WhoisError(107, "input line too long", "Input exceeds the maximum line length.")


# Hierarchy flags: at most one per query (RIPE error 901).
ONE_LESS, ALL_LESS, ONE_MORE, ALL_MORE, EXACT = "l", "L", "m", "M", "x"
IP_FLAGS = frozenset({ONE_LESS, ALL_LESS, ONE_MORE, ALL_MORE, EXACT})

_LONG = {
    "--one-less": ONE_LESS,
    "--all-less": ALL_LESS,
    "--one-more": ONE_MORE,
    "--all-more": ALL_MORE,
    "--exact": EXACT,
    "--no-referenced": "r",
    "--no-filtering": "B",
    "--all-sources": "a",
    "--select-types": "T",
    "--sources": "s",
    "--client": "V",
    "--list-versions": "list-versions",
    "--show-version": "show-version",
    "--as-of": "as-of",
}
_NO_ARGUMENT = frozenset({*IP_FLAGS, "r", "B", "a", "list-versions"})
_WITH_ARGUMENT = frozenset({"T", "s", "V", "q", "show-version", "as-of"})
_SOURCES = {
    **{name.upper(): rid for rid, name in SOURCE_NAMES.items()},
    **{rid.value.upper(): rid for rid in ALL_REGISTRIES},
    **{rid.display_name.replace(" ", "-").upper(): rid for rid in ALL_REGISTRIES},
}
_INFO_TOPICS = frozenset({"version", "sources", "types"})


def _display(flag: str) -> str:
    return f"--{flag}" if len(flag) > 1 else f"-{flag}"


@dataclass(slots=True)
class Query:
    """A parsed query line."""

    key: str = ""
    hierarchy: str | None = None  # one of IP_FLAGS
    no_recursion: bool = False
    unfiltered: bool = False
    types: tuple[str, ...] = ()
    sources: tuple[RegistryId, ...] = ()
    all_sources: bool = False
    list_versions: bool = False
    show_version: int | None = None
    info: str | None = None  # -q version|sources|types
    as_of: str | None = None  # --as-of DATE: the state at that moment (whois.past)
    flags: list[str] = field(default_factory=list)

    @property
    def versions(self) -> bool:
        return self.list_versions or self.show_version is not None

    @property
    def expensive(self) -> bool:
        """Counted against the client's allowance (`Limits.expensive_per_minute`): the
        searches that may list many objects or read the log, as RIPE counts its costly ones."""
        return (
            self.versions
            or self.as_of is not None
            or self.hierarchy in (ONE_MORE, ALL_MORE, ALL_LESS)
        )

    def wants(self, object_type: str) -> bool:
        return not self.types or object_type in self.types


def parse_query(line: str) -> Query:
    """Read one query line; raises WhoisError with RIPE's number for what is wrong with it."""
    query = Query()
    seen: set[str] = set()
    words: list[str] = []
    tokens = line.split()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if len(token) < 2 or token[0] != "-" or not (token[1].isalpha() or token[1] == "-"):
            words.append(token)  # a key word, or the "-" of "193.0.0.0 - 193.0.0.255"
            continue
        for flag, inline in _flags_of(token):
            if flag in seen:
                raise WhoisError(
                    110,
                    "multiple use of flag",
                    f'The flag "{_display(flag)}" cannot be used multiple times.',
                )
            seen.add(flag)
            argument = None
            if flag in _WITH_ARGUMENT:
                if inline:
                    argument = inline
                elif index < len(tokens):
                    argument = tokens[index]
                    index += 1
                else:
                    raise invalid_option(f'The flag "{_display(flag)}" needs an argument.')
            _apply(query, flag, argument)
    query.key = _normalise_key(" ".join(words))
    _check(query)
    return query


def _flags_of(token: str) -> list[tuple[str, str]]:
    """The flags in one word: a long option, or clustered short ones (`-rB`, `-Tinetnum`)."""
    if token.startswith("--"):
        name, _, inline = token.partition("=")
        flag = _LONG.get(name)
        if flag is None:
            raise invalid_option(f'"{name[:40]}" is not a known option.')
        return [(flag, inline)]
    out: list[tuple[str, str]] = []
    for position, char in enumerate(token[1:], start=1):
        if char in _WITH_ARGUMENT:
            out.append((char, token[position + 1 :]))
            return out
        if char not in _NO_ARGUMENT:
            raise invalid_option(f'"-{char}" is not a known option.')
        out.append((char, ""))
    return out


def _apply(query: Query, flag: str, argument: str | None) -> None:
    query.flags.append(flag)
    if flag in IP_FLAGS:
        if query.hierarchy is not None:
            raise WhoisError(
                901,
                "duplicate IP flags passed",
                "More than one IP flag (-l, -L, -m, -M or -x) passed to the server.",
            )
        query.hierarchy = flag
    elif flag == "r":
        query.no_recursion = True
    elif flag == "B":
        query.unfiltered = True
    elif flag == "a":
        query.all_sources = True
    elif flag == "list-versions":
        query.list_versions = True
    elif flag == "T":
        query.types = _types(argument or "")
    elif flag == "s":
        query.sources = _sources(argument or "")
    elif flag == "q":
        topic = (argument or "").lower()
        if topic not in _INFO_TOPICS:
            raise invalid_option(f'"-q" takes one of: {", ".join(sorted(_INFO_TOPICS))}.')
        query.info = topic
    elif flag == "show-version":
        text = argument or ""
        if not text.isascii() or not text.isdigit() or len(text) > 9:
            raise invalid_option(f'"--show-version" takes a version number, not "{text[:20]}".')
        query.show_version = int(text)
    elif flag == "as-of":
        query.as_of = argument
    # -V (client tag) is accepted and ignored, as whois.ripe.net does.


def _types(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for name in (t.strip().lower() for t in text.split(",")):
        if name not in OBJECT_TYPES:
            raise WhoisError(103, f"unknown object type '{name[:40]}'")
        out.append(name)
    return tuple(out)


def _sources(text: str) -> tuple[RegistryId, ...]:
    out: list[RegistryId] = []
    for name in (s.strip() for s in text.split(",")):
        rid = _SOURCES.get(name.upper())
        if rid is None:
            raise WhoisError(
                102,
                "unknown source",
                f'"{name[:40]}" is not a known source.',
                'Use "-q sources" to list known sources.',
            )
        out.append(rid)
    return tuple(out)


def _normalise_key(key: str) -> str:
    """`193.0.0.0 - 193.0.0.255` and `193.0.0.0-193.0.0.255` are one key; so are AS ranges."""
    if "-" in key:
        first, _, last = key.partition("-")
        return f"{first.strip()}-{last.strip()}"
    return key.strip()


def _check(query: Query) -> None:
    if query.list_versions and query.show_version is not None:
        raise WhoisError(
            109,
            "invalid combination of flags passed",
            'The flags "--list-versions" and "--show-version" cannot be used together.',
        )
    if query.versions and query.hierarchy is not None:
        version_flag = "--list-versions" if query.list_versions else "--show-version"
        raise WhoisError(
            109,
            "invalid combination of flags passed",
            f'The flags "{_display(query.hierarchy)}" and "{version_flag}" '
            "cannot be used together.",
        )
    if query.as_of is not None and query.versions:
        raise WhoisError(
            109,
            "invalid combination of flags passed",
            'The flag "--as-of" cannot be used with "--list-versions" or "--show-version".',
        )
    if query.info is None and not query.key:
        raise WhoisError(106, "no search key specified", "No search key specified")
