"""Rewrite the CLI output README.md quotes from a real run: `make readme-output` after `make demo`.

The block between the two markers below is replaced by what `warecast leaderboard`,
`warecast forecasts` and `warecast status` print now, so the quoted numbers are always the
current code's, never typed by hand. The forecast table is cut to its first steps to stay short.
Exit 2 with a line saying what to do when the demo has not run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- quoted-output: `make readme-output` writes this block from a real run -->"
END = "<!-- /quoted-output -->"
SERIES = "A3349335T"  # one of the demo's largest: New South Wales, supermarkets and grocery stores
COMMANDS = (
    ("leaderboard",),
    ("forecasts", "--series", SERIES, "--history", "6"),
    ("status",),
)
FORECAST_STEPS_SHOWN = 6


def run(args: tuple[str, ...]) -> str:
    warecast = Path(sys.executable).with_name("warecast")
    done = subprocess.run([str(warecast), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(
            f"`warecast {' '.join(args)}` failed (exit {done.returncode}): run `make demo` first."
            f"\n{done.stderr.strip()}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    # Paths as a clone shows them, not this machine's checkout.
    return done.stdout.rstrip("\n").replace(f"{README.parent}/", "")


def shortened(forecasts: str) -> str:
    """The forecast table's first steps, then one line saying how many there are."""
    lines = forecasts.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("step"))
    rows = lines[header + 2 :]
    if len(rows) <= FORECAST_STEPS_SHOWN:
        return forecasts
    kept = lines[: header + 2 + FORECAST_STEPS_SHOWN]
    return "\n".join([*kept, f"  ...   ({len(rows)} steps in all)"])


def block() -> str:
    parts = []
    for args in COMMANDS:
        output = run(args)
        if args[0] == "forecasts":
            output = shortened(output)
        parts.append(f"$ warecast {' '.join(args)}\n{output}")
    return "\n".join([BEGIN, "```", "\n\n".join(parts), "```", END])


def main() -> int:
    text = README.read_text()
    if BEGIN not in text or END not in text:
        print(f"README.md lacks the markers {BEGIN!r} ... {END!r}", file=sys.stderr)
        return 2
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    README.write_text(before + block() + after)
    print(f"README.md: quoted output of {len(COMMANDS)} commands rewritten from this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
