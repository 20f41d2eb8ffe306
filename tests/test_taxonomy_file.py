"""``categories.taxonomy`` names a file: a policy may read only a regular ``.txt`` file, and its
diagnostics never quote anything of the file (they reach whoever reloads the decision service)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import PolicyError, compile_policy

HEAD = 'apiVersion: txguard/v1\nid: t\nversion: "1"\ncurrency: USD\n'

# A secret line: text that is no taxonomy line (not `id - A > B`), long enough to be recognisable.
SECRET = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
                 min_size=12, max_size=80).filter(lambda s: s.strip() and not s.lstrip()[:1].isdigit()
                                                  and not s.lstrip().startswith("#"))
NAMES = st.sampled_from([".env", "secret", "secret.yaml", "id_rsa", ".hidden.txt", "sub/.git/config.txt",
                         "notes.txt", "sub/notes.txt"])


def _diagnostics(text: str, base: Path) -> list[str]:
    with pytest.raises(PolicyError) as info:
        compile_policy(text, "p.yaml", base)
    return [str(d) for d in info.value.diagnostics]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, secret=SECRET, line=st.integers(0, 3))
def test_no_diagnostic_quotes_the_file_a_policy_names_as_its_taxonomy(tmp_path: Path, name: str, secret: str,
                                                                        line: int) -> None:
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = ["1 - Home", "2 - Home > Kitchen", "3 - Toys"][:line] + [secret, "4 - Tools"]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = HEAD + f"categories: {{taxonomy: {name!r}}}\n"
    diagnostics = _diagnostics(text, tmp_path)
    assert len(diagnostics) == 1 and diagnostics[0].startswith("p.yaml:5:24: txg-param: categories.taxonomy: ")
    # nothing of the file: not the secret line, not any long run of it
    words = [w for w in secret.split() if len(w) >= 6]
    assert secret.strip() not in diagnostics[0] and not any(w in diagnostics[0] for w in words), diagnostics
    if name.endswith(".txt") and "/." not in f"/{name}":
        assert diagnostics[0].endswith(f"taxonomy `{name}` line {line + 1}: expected `id - Category > Subcategory`")
    else:
        assert "is not a taxonomy file" in diagnostics[0]


@pytest.mark.parametrize("make", ["fifo", "directory", "link-to-device", "link-outside", "absolute-device"])
def test_a_taxonomy_that_is_no_regular_txt_file_is_a_located_error_without_blocking(tmp_path: Path, make: str) -> None:
    name = "t.txt"
    path = tmp_path / name
    if make == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    elif make == "directory":
        path.mkdir()
    elif make == "link-to-device":
        path.symlink_to("/dev/zero")  # reading it would never end
    elif make == "link-outside":
        secret = tmp_path / "outside" / "passwd"
        secret.parent.mkdir()
        secret.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
        path.symlink_to(secret)
    else:
        name = "/dev/zero"
    diagnostics = _diagnostics(HEAD + f"categories: {{taxonomy: {name!r}}}\n", tmp_path)
    assert len(diagnostics) == 1 and diagnostics[0].startswith("p.yaml:5:24: ")
    assert "root:" not in diagnostics[0]
    expected = {
        "fifo": "`t.txt` is not a regular file",
        "directory": "cannot read taxonomy `t.txt`: Is a directory",
        "link-to-device": "`t.txt` is not a taxonomy file: it links to a file that is not `.txt`",
        "link-outside": "`t.txt` is not a taxonomy file: it links to a file that is not `.txt`",
        "absolute-device": "`/dev/zero` is not a taxonomy file: a taxonomy is a `.txt` file, not hidden",
    }[make]
    assert diagnostics[0].endswith(expected), diagnostics
