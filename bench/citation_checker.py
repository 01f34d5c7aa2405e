"""Citation checker: how often the old and the new checker get a verdict wrong. No model, ~30 s.

Run from the repository root: `.venv/bin/python bench/citation_checker.py [--old REV]`. The old checker is
`service/citations.py` at git revision REV (default 33010e8, before the fact rules), loaded from `git show`.

1. The cases of `tests/unit/test_citation_cases.py` (real passages from the shared datasets, statements written
   for the test; right passage should support, wrong passage or one changed token should not). These cases were
   written together with the new checker, so its figure there is in-sample.
2. XQuAD-de dev (612 questions), not used to build the checker: the gold answer span as a short answer; the gold
   paragraph should support it; every other paragraph of the same article that does not contain the answer text
   should not (some of these accept legitimately, e.g. "vier" where the paragraph writes "4").
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.citations import Claim, Evidence, check_statement  # noqa: E402
from tests.unit.test_citation_cases import CASES, KNOWN_LIMITS, MIN_SUPPORT, datasets_dir, passage  # noqa: E402


def _old_checker(revision: str) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:service/citations.py"], check=True, capture_output=True
    ).stdout
    with tempfile.NamedTemporaryFile("wb", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location("old_citations", handle.name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_citations"] = module
    spec.loader.exec_module(module)
    return module


def _cases(old: ModuleType) -> None:
    for name, cases in (("cases", CASES), ("known limits (xfail)", KNOWN_LIMITS)):
        old_wrong = new_wrong = 0
        for case in cases:
            text = passage(case.doc, case.where)
            old_wrong += (old.support(case.statement, text) >= MIN_SUPPORT) != case.supported
            new_wrong += (
                check_statement(case.statement, text, min_support=MIN_SUPPORT).supported != case.supported
            )
        supported = sum(c.supported for c in cases)
        print(f"{name}: {len(cases)} ({supported} supported): old wrong {old_wrong}, new wrong {new_wrong}")


def _xquad(old: ModuleType, root: Path) -> None:
    folder = root / "xquad-de"
    paragraphs = {
        f"corpus/{f.name}": [p for p in f.read_text().split("\n\n")[1:] if p.strip()]
        for f in (folder / "corpus").glob("*.md")
    }
    evidence: dict[str, Evidence] = {}
    n = old_gold = new_gold = negatives = old_neg = new_neg = 0
    for line in (folder / "questions-dev.jsonl").read_text().splitlines():
        question = json.loads(line)
        answer, gold, doc = (
            question["answers"][0],
            question["relevant"][0]["text"],
            question["relevant"][0]["doc"],
        )
        claim = Claim.of(answer)
        n += 1
        old_gold += old.support(answer, gold) >= MIN_SUPPORT
        new_gold += check_statement(
            claim, evidence.setdefault(gold, Evidence.of(gold)), min_support=MIN_SUPPORT
        ).supported
        for other in paragraphs[doc]:
            if other.strip() == gold.strip() or answer.lower() in other.lower():
                continue
            negatives += 1
            old_neg += old.support(answer, other) >= MIN_SUPPORT
            new_neg += check_statement(
                claim, evidence.setdefault(other, Evidence.of(other)), min_support=MIN_SUPPORT
            ).supported
    print(f"xquad-de dev: gold paragraph supports the answer span: old {old_gold}/{n}, new {new_gold}/{n}")
    print(
        f"xquad-de dev: another paragraph without the answer text accepted: old {old_neg}/{negatives}, "
        f"new {new_neg}/{negatives}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="33010e8", help="git revision of the old checker")
    args = parser.parse_args()
    root = datasets_dir()
    if root is None:
        sys.exit("shared datasets not found")
    old = _old_checker(args.old)
    _cases(old)
    _xquad(old, root)


if __name__ == "__main__":
    main()
