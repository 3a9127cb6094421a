"""git flower's one TOML codec: every TOML git flower reads or writes goes through here.

* :func:`loads` reads a document: the plain form git flower writes (brief front matter) with
  the fast subset reader :mod:`flowergit.state.quicktoml`, which does not load :mod:`tomllib`;
  anything outside that subset with :mod:`tomllib`. Errors are ``tomllib.TOMLDecodeError``
  (a ``ValueError``) whose message ends ``(at line N, column M)``.
* :func:`dumps` is the one canonical writer (tomli-w, light enough for ``brief new``). A
  top-level datetime in UTC with whole seconds is written ``2026-11-20T09:14:03Z`` (the
  RFC 3339 form DESIGN.md shows), where tomli-w alone writes ``2026-11-20 09:14:03+00:00``.
* :func:`edit` changes keys of a file someone may have edited by hand, keeping its comments,
  key order and keys git flower does not know (tomlkit: loaded only there).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DELETE = object()  # an :func:`edit` change that removes the key


def datetime_module() -> Any:
    """``datetime``'s C implementation, whose classes ``datetime`` itself exports: importing
    ``datetime.py`` runs its pure-Python definitions before it replaces them (~1.5 ms)."""
    try:
        import _datetime  # type: ignore[import-not-found,unused-ignore]

        return _datetime
    except ImportError:  # pragma: no cover - every CPython has it
        import datetime

        return datetime


def fast_loads(text: str) -> dict[str, Any] | None:
    """``text`` as tomllib would parse it when it is in the subset git flower writes, else None
    (without loading tomllib either way)."""
    from flowergit.state import quicktoml

    return quicktoml.loads(text, datetime_module)


def loads(text: str) -> dict[str, Any]:
    """The document as tomllib parses it (raises ``tomllib.TOMLDecodeError``, a ``ValueError``);
    the plain form git flower writes is read without loading tomllib."""
    got = fast_loads(text)
    if got is not None:
        return got
    import tomllib

    return tomllib.loads(text)


def loads_value(text: str) -> Any:
    """The TOML value ``text`` (``[["make"]]``, ``3``, ``"x"``); raises ``ValueError``."""
    return loads(f"x = {text}")["x"]


def dumps(data: Mapping[str, Any]) -> str:
    """The canonical TOML for ``data`` (see the module docstring for the datetime form)."""
    import tomli_w

    return tomli_w.dumps({k: _rfc3339(v) for k, v in data.items()})


def dumps_value(value: Any) -> str:
    """``value`` written as a TOML value, as :func:`dumps` writes it after ``key = ``."""
    text = dumps({"x": value})
    return text[len("x = "):].rstrip("\n")


def _rfc3339(value: Any) -> Any:
    """``value``, or for a UTC datetime with whole seconds the same datetime written ``…Z``
    (tomli-w writes a datetime as ``str()`` gives it)."""
    dt = datetime_module()
    if (isinstance(value, dt.datetime) and value.utcoffset() == dt.timedelta(0)
            and value.microsecond == 0):
        if not _ZULU:
            _ZULU.append(_zulu_class(dt))
        return _ZULU[0](value.year, value.month, value.day, value.hour, value.minute,
                        value.second, tzinfo=dt.timezone.utc)
    return value


_ZULU: list[type] = []  # the class below, made on first use


def _zulu_class(dt: Any) -> type:
    class Zulu(dt.datetime):  # type: ignore[misc]
        """A UTC datetime whose text is ``YYYY-MM-DDTHH:MM:SSZ``."""

        def __str__(self) -> str:
            return (f"{self.year:04d}-{self.month:02d}-{self.day:02d}T"
                    f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}Z")

    return Zulu


def edit(text: str, changes: Mapping[str, Any]) -> str:
    """``text`` with top-level ``changes`` applied (:data:`DELETE` removes a key), keeping
    comments, key order and unknown keys; ends with a newline. Raises ``ValueError`` when
    tomlkit cannot read ``text``.

    A document in the plain form :func:`dumps` writes (no comments, nothing hand-formatted:
    re-dumping what it parses to gives it back byte for byte) has nothing to keep that its
    values do not hold, so it is edited as data and written by :func:`dumps`, without loading
    tomlkit (~50 ms of imports, most of a `brief set`)."""
    plain = fast_loads(text)
    if plain is not None and dumps(plain) == text:
        for k, v in changes.items():
            if v is DELETE:
                plain.pop(k, None)
            else:
                plain[k] = v
        return dumps(plain)
    import tomlkit

    doc = tomlkit.parse(text)  # tomlkit.exceptions.ParseError is a ValueError
    for k, v in changes.items():
        if v is DELETE:
            if k in doc:
                del doc[k]
        else:
            doc[k] = v
    out = tomlkit.dumps(doc)
    return out if out.endswith("\n") else out + "\n"
