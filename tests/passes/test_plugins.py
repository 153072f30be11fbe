"""Pass plugins: Python files loaded by path, installed packages through entry points, and
the worked example of docs/pass-authoring.md."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from avalon.passes import (
    PluginError,
    get_pass,
    load_pass_plugin,
    parse_pipeline,
    plugins,
    registry,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugins" / "my_passes.py"


@pytest.fixture(autouse=True)
def clean_registry():
    saved_p, saved_l = dict(registry._PASSES), dict(registry._PIPELINES)
    saved_flag = plugins._entry_points_loaded
    yield
    registry._PASSES.clear()
    registry._PASSES.update(saved_p)
    registry._PIPELINES.clear()
    registry._PIPELINES.update(saved_l)
    plugins._entry_points_loaded = saved_flag


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_plugin_file_registers_decorated_and_plain_pass_classes(tmp_path):
    path = write(tmp_path / "user.py", """
        from avalon.passes import Pass, register_pass
        from avalon.passes.pass_base import Pass as Base  # imported, not defined here

        @register_pass
        class Decorated(Pass):
            name = "p-decorated"
            def run(self, op):
                pass

        class Plain(Pass):
            '''Registered because it is defined here with a name.'''
            name = "p-plain"
            def run(self, op):
                pass

        class Helper(Pass):  # no name: a base for other passes, not registered
            pass
        """)
    assert load_pass_plugin(path) == ["p-decorated", "p-plain"]
    assert get_pass("p-plain").description() == "Registered because it is defined here with a name."
    # Loading the same file again is not a clash.
    assert load_pass_plugin(str(path)) == ["p-decorated", "p-plain"]


@pytest.mark.parametrize(("source", "fragment"), [
    ("def broken(:\n", "syntax error"),
    ("raise RuntimeError('no GPU here')\n", "raised RuntimeError while loading: no GPU here"),
    ("from avalon.passes import Pass\nclass C(Pass):\n    name = 'canonicalize-clash'\n",
     "already registered"),
])
def test_plugin_errors_are_reported_as_plugin_errors(tmp_path, source, fragment):
    class Existing(registry.Pass):
        name = "canonicalize-clash"

    registry.register_pass(Existing)
    path = write(tmp_path / "bad.py", source)
    with pytest.raises(PluginError, match=fragment):
        load_pass_plugin(path)


def test_missing_plugin_file(tmp_path):
    with pytest.raises(PluginError, match="does not exist"):
        load_pass_plugin(tmp_path / "nope.py")


def make_distribution(root: Path) -> None:
    """An installed-looking package whose metadata declares ``avalon.passes`` entry points."""
    pkg = root / "ep_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write(pkg / "mod_passes.py", """
        from avalon.passes import Pass, register_pass

        @register_pass
        class FromModule(Pass):
            name = "ep-module-pass"
        """)
    write(pkg / "setup_passes.py", """
        from avalon.passes import Pass, register_pass, register_pipeline

        class FromFunction(Pass):
            name = "ep-function-pass"

        def register():
            register_pass(FromFunction)
            register_pipeline("ep-pipeline", "ep-function-pass", "from an entry point")
        """)
    info = root / "ep_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[avalon.passes]\n"
        "module = ep_demo.mod_passes\n"
        "function = ep_demo.setup_passes:register\n"
        "broken = ep_demo.missing_module\n")


def test_entry_points_load_lazily_on_a_missed_lookup(tmp_path, monkeypatch):
    make_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    plugins._entry_points_loaded = False
    assert "ep-module-pass" not in registry.all_passes()
    with pytest.warns(RuntimeWarning, match="entry point 'broken'"):
        cls = get_pass("ep-function-pass")
    assert cls.name == "ep-function-pass"
    assert "ep-module-pass" in registry.all_passes()
    assert registry.get_pipeline("ep-pipeline").text == "ep-function-pass"
    # Loaded once: a second miss does not import again.
    assert plugins.load_entry_point_plugins() is False
    for mod in [m for m in sys.modules if m.startswith("ep_demo")]:
        del sys.modules[mod]


def test_example_plugin_defines_its_documented_passes():
    names = load_pass_plugin(EXAMPLE)
    assert names == ["count-ops", "mul-by-two"]
    count_ops = get_pass("count-ops")
    assert count_ops.option_specs()["dialect"].default == "arith"


# ------------------------------------------------------------- the documented worked example

DOCUMENTED = ["--load-pass-plugin=examples/plugins/my_passes.py",
              "--pass-pipeline=builtin.module(func.func(mul-by-two))", "examples/mlp.mlir"]


def test_documented_command_rewrites_the_multiplication_by_two():
    """The command of docs/pass-authoring.md, through the installed console script."""
    avalon_opt = Path(sys.executable).parent / "avalon-opt"
    proc = subprocess.run([str(avalon_opt), *DOCUMENTED], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    before = (ROOT / "examples" / "mlp.mlir").read_text()
    assert proc.stdout.count("arith.mulf") == before.count("arith.mulf") - 1
    doubled = re.findall(r"arith\.addf (%\w+), (%\w+) : f32", proc.stdout)
    assert any(a == b for a, b in doubled)


def mlp_module():
    from avalon.ir.parser import parse_module

    return parse_module((ROOT / "examples" / "mlp.mlir").read_text(), "mlp.mlir")


@pytest.mark.parametrize("x", [[1.0, 2.0, -3.0, 0.5], [-1.0, -2.0, 3.0, 4.0], [0.0] * 4])
def test_mul_by_two_keeps_the_meaning_of_the_mlp(x):
    """Translation validation: the interpreter gives the same result before and after."""
    from avalon.backends.interpreter import run as interpret

    load_pass_plugin(EXAMPLE)
    pm = parse_pipeline("builtin.module(func.func(mul-by-two),canonicalize,cse)")
    before, after = mlp_module(), mlp_module()
    pm.run(after)
    arg = np.array(x, dtype=np.float32)
    expected = interpret(before, "mlp", arg)
    got = interpret(after, "mlp", arg)
    assert np.array_equal(np.asarray(got), np.asarray(expected))
    mul_by_two = next(p for p in pm.all_passes() if p.name == "mul-by-two")
    assert mul_by_two.statistics["rewrites"].value == 1


def test_pattern_matches_either_operand_order_and_only_two():
    from avalon.ir.parser import parse_module
    from avalon.ir.printer import print_op

    load_pass_plugin(EXAMPLE)
    module = parse_module(
        "func.func @f(%x: f32) -> f32 {\n"
        "  %two = arith.constant 2.0 : f32\n  %three = arith.constant 3.0 : f32\n"
        "  %a = arith.mulf %two, %x : f32\n  %b = arith.mulf %a, %two : f32\n"
        "  %c = arith.mulf %b, %three : f32\n  return %c : f32\n}\n")
    parse_pipeline("func.func(mul-by-two)").run(module)
    text = print_op(module)
    assert "arith.addf %arg0, %arg0" in text and "arith.addf %2, %2" in text
    assert text.count("arith.mulf") == 1  # the multiplication by 3.0 stays
