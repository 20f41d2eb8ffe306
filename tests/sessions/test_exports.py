from __future__ import annotations

import txguard.sessions as sessions


def test_the_public_front_is_sorted_documented_and_leaks_no_private_name() -> None:
    names = sessions.__all__
    # ruff's RUF022 "isort-style" order, as txguard's own __all__ (tests/test_exports.py)
    assert names == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    assert not [n for n in names if n.startswith("_")]
    undocumented = [n for n in names if not isinstance(getattr(sessions, n), (dict, str))
                    and not (getattr(sessions, n).__doc__ or "").strip()]
    assert undocumented == []
    # `@py_builtins` and friends: pytest rewrites the asserts of every module of a distribution
    # that registers a pytest11 plugin (txguard does); they are not identifiers, not API.
    public = {n for n in dir(sessions) if not n.startswith("_") and n.isidentifier()}
    assert public == set(names)
