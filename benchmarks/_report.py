"""What every benchmark writes beside its table: the machine, and its RESULTS.md section."""

import os
import platform
import re

RESULTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def machine_description():
    """CPU model and the number of cores this process may use."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores"


def load_average():
    """The 1/5/15-minute load averages: how busy the machine was."""
    try:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg()) + " (1/5/15 min)"
    except OSError:
        return "unknown"


def replace_section(title, section, path=RESULTS_PATH):
    """Writes `section` (starting with `title`) in place of the old one; others stay."""
    text = "# Benchmark results\n"
    if os.path.exists(path):
        with open(path) as handle:
            text = handle.read() or text
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as handle:
        handle.write(text.rstrip("\n") + "\n")
