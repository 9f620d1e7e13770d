"""Fuzzing the spec front end: thousands of mutated specs, every outcome accounted for.

    python benchmarks/fuzz.py                        # 10,000 examples, writes RESULTS.md
    python benchmarks/fuzz.py --build                # also builds the valid small ones
    python benchmarks/fuzz.py --examples 500 --no-write
    python benchmarks/fuzz.py --seed 3 --replay 1234 # print example 1234 of seed 3 and its outcome

Each example takes a shipped spec (`specs/*.yaml`, chosen at random), applies one
to three random mutations of its text or data (`tests/spec/spec_mutations.py`:
truncation, random unicode, deleted, duplicated or swapped lines, duplicated
keys, wrong types, big and negative numbers, swapped names, dangling
references, refused and plugin layer types) and validates the result with
`kerasblocks.api.validate`, which runs the whole front end (YAML, schema,
checks, expansion, train section) without TensorFlow. Outcomes:

- valid: the mutated spec is still a valid spec;
- SpecError: refused, and every diagnostic has a line number;
- other: anything else (another exception, a SpecError without a line, or no
  answer within `--hang-seconds`). Must be 0: each one is a bug.

With `--build`, valid mutations of the small specs (`SMALL_SPECS`) are also
built into Keras models when that is cheap (at most 200 layers and 5,000,000
parameters, counted without allocating them; see `spec_mutations.cheap_to_build`),
and any build failure must be a located SpecError too. Examples taking over
`--slow-seconds` are counted.

Example i of seed s uses `random.Random(f"{s}:{i}")`, so `--replay i` shows
any example again without running the others.
"""

import argparse
import collections
import contextlib
import datetime
import os
import platform
import random
import signal
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from benchmarks._report import (  # noqa: E402
    RESULTS_PATH,
    load_average,
    machine_description,
    replace_section,
)
from tests.spec import spec_mutations  # noqa: E402

SECTION_TITLE = "## Fuzzing (benchmarks/fuzz.py)"
OUTCOMES = ("valid", "spec_error", "bad")
OUTCOME_LABELS = {
    "valid": "valid spec",
    "spec_error": "SpecError, every diagnostic located (file:line:column)",
    "bad": "other: exception, unlocated SpecError or hang (must be 0)",
}


class _Hang(Exception):
    """An example ran past `--hang-seconds`."""


@contextlib.contextmanager
def _time_limit(seconds):
    """Raises `_Hang` in the body after `seconds` (SIGALRM: main thread, POSIX)."""

    def alarm(signum, frame):
        raise _Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def example(seed, index, specs):
    """Example `index` of `seed`: (spec name, mutation names, mutated text)."""
    rng = random.Random(f"{seed}:{index}")
    name = rng.choice(sorted(specs))
    text, mutations = spec_mutations.mutate(specs[name], rng)
    return name, mutations, text


def judge(judgement, text, hang_seconds):
    """(outcome, detail, seconds) of `judgement(text)`, a hang counting as "bad"."""
    start = time.perf_counter()
    try:
        with _time_limit(hang_seconds):
            kind, detail = judgement(text)
    except _Hang as error:
        kind, detail = "bad", f"hang: {error}"
    return kind, detail, time.perf_counter() - start


def run(args):
    """Runs the examples; returns the results as a dict (see `format_section`)."""
    specs = spec_mutations.shipped_spec_texts()
    counts = collections.Counter()
    per_spec = collections.defaultdict(collections.Counter)
    per_mutation = collections.defaultdict(collections.Counter)
    builds = collections.Counter()
    failures, slow = [], []
    if args.build:  # TensorFlow's import is not an example's time
        import keras  # noqa: F401
    start = time.perf_counter()
    for index in range(args.examples):
        name, mutations, text = example(args.seed, index, specs)
        kind, detail, seconds = judge(spec_mutations.outcome, text, args.hang_seconds)
        if kind == "valid" and args.build and name in spec_mutations.SMALL_SPECS:
            build_kind, build_detail, build_seconds = judge(
                spec_mutations.build_outcome, text, args.hang_seconds
            )
            builds[build_kind] += 1
            seconds += build_seconds
            if build_kind == "bad":
                kind, detail = "bad", f"build: {build_detail}"
        counts[kind] += 1
        per_spec[name][kind] += 1
        for mutation in mutations:
            per_mutation[mutation][kind] += 1
        if kind == "bad":
            failures.append((index, name, mutations, detail))
            print(f"BAD example {index} ({name}, {', '.join(mutations)}): {detail}", flush=True)
        if seconds > args.slow_seconds:
            slow.append((index, name, mutations, seconds))
        if (index + 1) % 1000 == 0:
            elapsed = time.perf_counter() - start
            print(f"{index + 1} examples, {elapsed:.0f} s: {dict(counts)}", flush=True)
    return {
        "counts": counts,
        "per_spec": per_spec,
        "per_mutation": per_mutation,
        "builds": builds,
        "failures": failures,
        "slow": slow,
        "seconds": time.perf_counter() - start,
    }


def format_section(results, args):
    import hypothesis
    import yaml

    counts, builds = results["counts"], results["builds"]
    total = sum(counts.values())
    command = f"python benchmarks/fuzz.py --examples {args.examples} --seed {args.seed}"
    command += " --build" if args.build else ""
    lines = [
        SECTION_TITLE,
        "",
        "Each example mutates a shipped spec (`specs/*.yaml`, one chosen at random) one to three "
        "times, on its text or its parsed data (`tests/spec/spec_mutations.py`: truncation, "
        "random unicode, deleted, duplicated and swapped lines, duplicated keys, values of the "
        "wrong type, big and negative numbers, swapped names, dangling references, refused and "
        "plugin layer types), then validates it with `kerasblocks.api.validate` (YAML, schema, "
        "checks, expansion, train section; no TensorFlow). An example passes when the result is "
        "a valid spec or a `SpecError` whose every diagnostic has a line number. "
        f"Examples over {args.slow_seconds:g} s are listed as slow; one over "
        f"{args.hang_seconds:g} s would count as a hang. The unit tests run the same mutations "
        "through Hypothesis (`tests/spec/test_fuzz.py`, a few hundred examples).",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine_description()}",
        f"- Python {platform.python_version()}, PyYAML {yaml.__version__}, "
        f"Hypothesis {hypothesis.__version__} (tests only)",
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Load average when done: {load_average()}",
        f"- Time: {results['seconds']:.0f} s ({1000 * results['seconds'] / max(total, 1):.1f} ms "
        "per example)",
        "",
        "| outcome | examples | share |",
        "|---|---:|---:|",
    ]
    for kind in OUTCOMES:
        share = 100 * counts[kind] / max(total, 1)
        lines.append(f"| {OUTCOME_LABELS[kind]} | {counts[kind]:,} | {share:.1f} % |")
    lines.append(f"| total | {total:,} | |")
    lines += [
        "",
        f"- Slow examples (over {args.slow_seconds:g} s): {len(results['slow'])}"
        + "".join(
            f"; #{index} {name} ({', '.join(mutations)}) {seconds:.1f} s"
            for index, name, mutations, seconds in results["slow"][:5]
        ),
    ]
    if args.build:
        built = builds["built"]
        lines.append(
            f"- `--build`: of the {sum(builds.values()):,} valid mutations of "
            f"{', '.join(spec_mutations.SMALL_SPECS)}, {built:,} were built into Keras models, "
            f"{builds['spec_error']:,} failed to build with a located SpecError, "
            f"{builds['valid']:,} were not built (over "
            f"{spec_mutations.MAX_PARAMETERS_TO_BUILD:,} parameters, counted without allocating "
            f"them, or over {spec_mutations.MAX_LAYERS_TO_BUILD} layers), "
            f"{builds['bad']:,} failed otherwise"
        )
    lines.append(
        "- Examples per spec: "
        + ", ".join(
            f"{name} {sum(spec_counts.values()):,}"
            for name, spec_counts in sorted(results["per_spec"].items())
        )
    )
    lines += [
        "",
        "Outcomes per mutation (an example with several mutations counts for each):",
        "",
        "| mutation | valid | SpecError | other |",
        "|---|---:|---:|---:|",
    ]
    for mutation, mutation_counts in sorted(results["per_mutation"].items()):
        values = " | ".join(f"{mutation_counts[kind]:,}" for kind in OUTCOMES)
        lines.append(f"| `{mutation}` | {values} |")
    for index, name, mutations, detail in results["failures"][:10]:
        lines.append(f"- FAILED #{index} ({name}, {', '.join(mutations)}): {detail[:200]}")
    return "\n".join(lines) + "\n"


def replay(args):
    specs = spec_mutations.shipped_spec_texts()
    name, mutations, text = example(args.seed, args.replay, specs)
    print(f"# example {args.replay} of seed {args.seed}: {name}, {', '.join(mutations)}")
    print(text)
    judgement = spec_mutations.build_outcome if args.build else spec_mutations.outcome
    print(judgement(text))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--build", action="store_true", help="also build the valid mutations of the small specs"
    )
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument("--hang-seconds", type=float, default=60.0)
    parser.add_argument("--replay", type=int, metavar="INDEX", help="show one example and exit")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--output", default=RESULTS_PATH)
    args = parser.parse_args(argv)
    if args.replay is not None:
        replay(args)
        return 0
    results = run(args)
    section = format_section(results, args)
    print()
    print(section)
    if not args.no_write:
        replace_section(SECTION_TITLE, section, args.output)
        print(f"wrote {args.output}")
    return 1 if results["counts"]["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
