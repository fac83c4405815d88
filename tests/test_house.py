"""The layout's import rules, checked on the source with ``ast`` (no module is imported).

python-zeroconf keeps its import graph honest with a test of its own; this is ours.  The rules
(README "How the code is laid out"):

- ``firmware`` never imports ``service``: the hardware layer knows nothing above it.
- paho lives in ``service/mqtt/`` only.  ``support/``, ``tests/`` and ``benchmarks/`` may import
  it too: they play the broker's other clients (subscribers that measure what arrived).
- Only the hardware factory, ``service/app/hardware.py``, opens a bus: outside it no module in
  firmware, service, support or benchmarks imports ``smbus2`` itself or its ``SMBus``, or calls
  anything named ``SMBus``.  The one thing others may take from smbus2 is ``i2c_msg``, the
  message type a combined transfer is built from, which opens nothing (firmware/bus.py builds
  its long burst reads with it).  Tests are free to.
- ``service/pipeline/`` is pure: it imports none of sqlite3, paho, socket, threading or
  subprocess, nor the service's I/O packages (mqtt, night, app, recording, sim, learning).
- ``service/learning/`` (snippets, labels, tuning) sits below the composition root: it never
  imports ``service.app``; the core and the daemon hand it what it needs.
- No import cycle among the modules of firmware and service.  Imports at module level and
  inside functions both count (a function-level import only postpones the cycle to run time);
  imports under ``if TYPE_CHECKING:`` do not, as they never run.
- ``benchmarks`` never imports ``tests``: what both need lives in ``support/``.
- The repository stands on its own: no file points at ``../shared`` (a clone has none).  Only a
  benchmark may read real recordings from ``../shared/data``, and it must cope when they are absent.

Each checker takes the root of a tree, so the tests at the bottom can feed it a small synthetic
tree that breaks its rule and show that it would fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACTORY = "service.app.hardware"
IO_MODULES = ("sqlite3", "paho", "socket", "threading", "subprocess")
IO_PACKAGES = ("service.mqtt", "service.night", "service.app", "service.recording", "service.sim", "service.learning")
SMBUS_MAY_GIVE = {"i2c_msg"}


@dataclass(frozen=True)
class Import:
    """One imported name: ``module`` (absolute, dotted) and, for ``from M import n``, ``name``."""

    importer: str
    file: Path
    line: int
    module: str
    name: str | None
    type_checking: bool

    def targets(self) -> tuple[str, ...]:
        """Dotted names this import may refer to: ``M`` and, for a from-import, ``M.n``."""
        return (self.module,) if self.name is None else (self.module, f"{self.module}.{self.name}")

    def where(self, root: Path) -> str:
        return f"{self.file.relative_to(root)}:{self.line}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(root: Path, packages: tuple[str, ...]) -> list[Path]:
    return sorted(p for pkg in packages if (root / pkg).is_dir() for p in (root / pkg).rglob("*.py"))


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers of the statements under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every import statement in ``path``, at any depth (module, class or function level)."""
    importer = module_name(root, path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    guarded = _type_checking_lines(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(importer, path, node.lineno, alias.name, None, node.lineno in guarded))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = importer.split(".") if is_package else importer.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                found.append(Import(importer, path, node.lineno, module, alias.name, node.lineno in guarded))
    return found


def all_imports(root: Path, packages: tuple[str, ...]) -> list[Import]:
    return [imp for path in python_files(root, packages) for imp in imports_of(root, path)]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


# ---------------------------------------------------------------- the rules


def firmware_importing_service(root: Path) -> list[str]:
    return [f"{imp.where(root)}: {imp.importer} imports {imp.module}"
            for imp in all_imports(root, ("firmware",)) if _under(imp.module, "service")]


def paho_outside_mqtt(root: Path) -> list[str]:
    return [f"{imp.where(root)}: {imp.importer} imports {imp.module}"
            for imp in all_imports(root, ("firmware", "service"))
            if _under(imp.module, "paho") and not _under(imp.importer, "service.mqtt")]


def smbus_outside_factory(root: Path) -> list[str]:
    """Imports of smbus2 (other than ``i2c_msg``) and calls of ``SMBus`` outside the factory."""
    packages = ("firmware", "service", "support", "benchmarks")
    bad = []
    for imp in all_imports(root, packages):
        if imp.importer == FACTORY or not _under(imp.module, "smbus2"):
            continue
        if imp.name is None or imp.name not in SMBUS_MAY_GIVE:
            what = imp.module if imp.name is None else f"{imp.module}.{imp.name}"
            bad.append(f"{imp.where(root)}: {imp.importer} imports {what}")
    for path in python_files(root, packages):
        if module_name(root, path) == FACTORY:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if called == "SMBus":
                    bad.append(f"{path.relative_to(root)}:{node.lineno}: {module_name(root, path)} opens SMBus(...)")
    return bad


def io_in_pipeline(root: Path) -> list[str]:
    bad = []
    for imp in all_imports(root, ("service",)):
        if not _under(imp.importer, "service.pipeline"):
            continue
        hit = next((t for t in imp.targets() for io in IO_MODULES + IO_PACKAGES if _under(t, io)), None)
        if hit:
            bad.append(f"{imp.where(root)}: {imp.importer} imports {hit}")
    return bad


def learning_importing_app(root: Path) -> list[str]:
    return [f"{imp.where(root)}: {imp.importer} imports {t}"
            for imp in all_imports(root, ("service",)) if _under(imp.importer, "service.learning")
            for t in imp.targets()[:1] if any(_under(x, "service.app") for x in imp.targets())]


def benchmarks_importing_tests(root: Path) -> list[str]:
    return [f"{imp.where(root)}: {imp.importer} imports {imp.module}"
            for imp in all_imports(root, ("benchmarks",)) if _under(imp.module, "tests")]


OUTSIDE = ("../shared", "/work/shared")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".cfg", ".service", ".sh", ".txt"}
GENERATED = ("build", "dist", "benchmarks/out")  # made by pip and the benchmarks, ignored by git


def _generated(rel: Path) -> bool:
    return rel.parts[0].endswith(".egg-info") or any(rel.is_relative_to(g) for g in GENERATED)


def pointers_outside(root: Path) -> list[str]:
    """Lines of the repository's text files that point at ../shared (benchmarks: ../shared/data only)."""
    bad = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0].startswith(".") or "__pycache__" in rel.parts or _generated(rel):
            continue
        if path.suffix not in TEXT_SUFFIXES and not (rel.parts[0] == "scripts" or path.name == "Makefile"):
            continue
        if rel == Path("tests/test_house.py"):  # names the pointers in order to look for them
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for pointer in OUTSIDE:
                at = line.find(pointer)
                if at < 0:
                    continue
                if not (rel.parts[0] == "benchmarks" and line[at + len(pointer):].startswith("/data")):
                    bad.append(f"{rel}:{n}: {line.strip()}")
                break
    return bad


def import_graph(root: Path, packages: tuple[str, ...] = ("firmware", "service")) -> dict[str, dict[str, str]]:
    """importer -> {imported module: where}, for modules of the tree only.

    ``from P import n`` is an edge to ``P.n`` when that is a module of the tree, else to ``P``;
    ``import a.b.c`` is an edge to ``a.b.c``.  Parent packages are not added: their
    ``__init__`` runs first, but importing a sibling through them is not a cycle.
    """
    modules = {module_name(root, p) for p in python_files(root, packages)}
    graph: dict[str, dict[str, str]] = {m: {} for m in modules}
    for imp in all_imports(root, packages):
        if imp.type_checking:
            continue
        target = next((t for t in reversed(imp.targets()) if t in modules), None)
        if target and target != imp.importer:
            graph[imp.importer].setdefault(target, imp.where(root))
    return graph


def import_cycles(root: Path, packages: tuple[str, ...] = ("firmware", "service")) -> list[str]:
    """One cycle per strongly connected group, as ``a (file:line) -> b (file:line) -> a``."""
    graph = import_graph(root, packages)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm; the graph is a few hundred nodes
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    cycles = []
    for group in groups:
        start = min(group)
        # shortest way back to start inside the group (breadth first)
        came_from: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in came_from:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w in group and w not in came_from:
                        came_from[w] = v
                        nxt.append(w)
            frontier = nxt
        path = [start]  # walked backwards, then turned round
        v = came_from[start]
        while v != start:
            path.append(v)
            v = came_from[v]
        path.append(start)
        path.reverse()
        steps = [f"{a} ({graph[a][b]})" for a, b in zip(path, path[1:])]
        cycles.append(" -> ".join(steps + [start]))
    return sorted(cycles)


# ---------------------------------------------------------------- the repository keeps them


def _report(problems: list[str]) -> str:
    return "\n".join(problems)


def test_firmware_never_imports_service():
    problems = firmware_importing_service(ROOT)
    assert not problems, _report(problems)


def test_only_service_mqtt_imports_paho():
    problems = paho_outside_mqtt(ROOT)
    assert not problems, _report(problems)


def test_only_the_hardware_factory_opens_an_smbus():
    problems = smbus_outside_factory(ROOT)
    assert not problems, _report(problems)


def test_the_pipeline_imports_no_io():
    problems = io_in_pipeline(ROOT)
    assert not problems, _report(problems)


def test_learning_never_imports_the_app():
    problems = learning_importing_app(ROOT)
    assert not problems, _report(problems)


def test_no_import_cycle_in_firmware_and_service():
    cycles = import_cycles(ROOT)
    assert not cycles, "import cycles:\n" + _report(cycles)


def test_benchmarks_never_import_tests():
    problems = benchmarks_importing_tests(ROOT)
    assert not problems, _report(problems)


def test_the_repository_points_at_nothing_outside_it():
    problems = pointers_outside(ROOT)
    assert not problems, _report(problems)


def test_the_checks_see_the_whole_tree():
    """A checker that found no files would pass every rule: make sure it reads the real tree."""
    graph = import_graph(ROOT)
    assert {"firmware.bus", "service.pipeline.detect", "service.cli"} <= set(graph)
    assert any("service.pipeline.detect" in deps for deps in graph.values())
    assert sum(len(deps) for deps in graph.values()) > len(graph)
    assert any(_under(imp.module, "paho") for imp in all_imports(ROOT, ("service",)))


# ---------------------------------------------------------------- each check can fail


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> source) under ``root``, with the packages' ``__init__.py``."""
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            if parent != Path("."):
                (root / parent / "__init__.py").touch()
        path.write_text(source)
    return root


def test_firmware_importing_service_is_caught(tmp_path):
    write_tree(tmp_path, {
        "firmware/gpio.py": "def f():\n    from service.config import Config\n",
        "firmware/bus.py": "from smbus2 import i2c_msg\n",
        "service/app/daemon.py": "import firmware.bus\n",
    })
    problems = firmware_importing_service(tmp_path)
    assert len(problems) == 1 and "firmware/gpio.py:2" in problems[0] and "service.config" in problems[0]


def test_paho_outside_service_mqtt_is_caught(tmp_path):
    write_tree(tmp_path, {
        "service/mqtt/client.py": "import paho.mqtt.client as mqtt\n",
        "service/app/daemon.py": "from paho.mqtt import publish\n",
        "support/helpers.py": "import paho.mqtt.client\n",
        "tests/test_x.py": "import paho.mqtt.client\n",
    })
    problems = paho_outside_mqtt(tmp_path)
    assert len(problems) == 1 and "service.app.daemon" in problems[0]


def test_smbus_outside_the_factory_is_caught(tmp_path):
    write_tree(tmp_path, {
        "service/app/hardware.py": "from smbus2 import SMBus\n\ndef open_bus(n):\n    return SMBus(n)\n",
        "firmware/bus.py": "from smbus2 import i2c_msg\n",
        "firmware/probe.py": "import smbus2\n\ndef open_bus():\n    return smbus2.SMBus(1)\n",
        "service/app/doctor.py": "def bus(n):\n    from smbus2 import SMBus\n    return SMBus(n)\n",
        "service/recording/capture.py": "from service.app.hardware import SMBus\n\nbus = SMBus(1)\n",
        "tests/test_bus.py": "from smbus2 import SMBus\n",
    })
    problems = smbus_outside_factory(tmp_path)
    assert sorted(p.split(":")[0] + ":" + p.split(":")[1] for p in problems) == [
        "firmware/probe.py:1", "firmware/probe.py:4", "service/app/doctor.py:2", "service/app/doctor.py:3",
        "service/recording/capture.py:3",
    ]


@pytest.mark.parametrize("source", [
    "import sqlite3\n",
    "def f():\n    import threading\n",
    "from socket import socket\n",
    "import subprocess\n",
    "from paho.mqtt import client\n",
    "from service.mqtt.messages import Message\n",
    "from service import night\n",
    "from ..app import daemon\n",
    "import service.recording.format\n",
    "from service.sim.world import World\n",
    "from service.learning.snippets import SnippetStore\n",
])
def test_io_in_the_pipeline_is_caught(tmp_path, source):
    write_tree(tmp_path, {
        "service/pipeline/detect.py": source,
        "service/pipeline/alerts.py": "from service.events import Event\nfrom .detect import DetectorEvent\n",
        "service/night/store.py": "import sqlite3\n",
    })
    problems = io_in_pipeline(tmp_path)
    assert len(problems) == 1 and "service/pipeline/detect.py" in problems[0]


def test_an_import_cycle_is_caught_with_its_path(tmp_path):
    write_tree(tmp_path, {
        "service/app/core.py": "from service.pipeline import alerts\n",
        "service/pipeline/alerts.py": "from . import detect\n",
        "service/pipeline/detect.py": "def later():\n    import service.app.core\n",
        "service/events.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from service.config import C\n",
        "service/config.py": "from service.events import Event\n",
        "firmware/bus.py": "from smbus2 import i2c_msg\n",
    })
    cycles = import_cycles(tmp_path)
    assert cycles == ["service.app.core (service/app/core.py:1) -> service.pipeline.alerts "
                      "(service/pipeline/alerts.py:1) -> service.pipeline.detect (service/pipeline/detect.py:2) "
                      "-> service.app.core"]


def test_learning_importing_the_app_is_caught(tmp_path):
    write_tree(tmp_path, {
        "service/learning/writer.py": "from service.learning.snippets import SnippetStore\nfrom service.config import Config\n",
        "service/learning/keeper.py": "def f():\n    from service.app import core\n",
        "service/learning/cli.py": "import service.mqtt.oneshot\n",
        "service/app/core.py": "from service.learning.keeper import SnippetKeeper\n",
    })
    problems = learning_importing_app(tmp_path)
    assert len(problems) == 1 and "service/learning/keeper.py:2" in problems[0]


def test_benchmarks_importing_tests_is_caught(tmp_path):
    write_tree(tmp_path, {
        "benchmarks/soak.py": "from support.brokers import Mosquitto\n",
        "benchmarks/accuracy.py": "def f():\n    from tests.conftest import rig\n",
    })
    problems = benchmarks_importing_tests(tmp_path)
    assert len(problems) == 1 and "benchmarks/accuracy.py:2" in problems[0]


def test_a_pointer_outside_the_repository_is_caught(tmp_path):
    write_tree(tmp_path, {
        "service/recording/format.py": '"""The format (see ../shared/docs/signals.md)."""\n',
        "docs/detection.md": "The scoring rule is in [signals.md](signals.md).\n",
        "benchmarks/real.py": 'DATA = ROOT.parent / "shared" / "data"  # ../shared/data/real, when present\n',
        "benchmarks/accuracy.py": "# scored by the rule of ../shared/docs/signals.md\n",
        "Makefile": "docs:\n\tcp /work/shared/docs/style.md docs/\n",
    })
    problems = pointers_outside(tmp_path)
    assert sorted(p.split(":")[0] for p in problems) == ["Makefile", "benchmarks/accuracy.py",
                                                        "service/recording/format.py"]
