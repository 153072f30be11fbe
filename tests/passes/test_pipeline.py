"""Registry and textual pipelines: parsing, canonical printing, named pipelines, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avalon.passes import (
    ListOption,
    OpPassManager,
    Option,
    Pass,
    PipelineParseError,
    UnknownNameError,
    get_pass,
    get_pipeline,
    parse_pipeline,
    register_pass,
    register_pipeline,
    registry,
)
from avalon.passes.registry import RegistrationError


class Alpha(Pass):
    """First test pass."""

    name = "t-alpha"


class Beta(Pass):
    """Function-level test pass with every kind of option."""

    name = "t-beta"
    op_name = "func.func"
    threshold = Option(int, 4, "size limit")
    ratio = Option(float, 0.5)
    fast = Option(bool, False)
    mode = Option(str, "safe")
    sizes = ListOption(int, [8])
    names = ListOption(str, [])


@pytest.fixture(autouse=True)
def registered():
    saved_p, saved_l = dict(registry._PASSES), dict(registry._PIPELINES)
    register_pass(Alpha)
    register_pass(Beta)
    yield
    registry._PASSES.clear()
    registry._PASSES.update(saved_p)
    registry._PIPELINES.clear()
    registry._PIPELINES.update(saved_l)


def roundtrip(text: str) -> str:
    printed = str(parse_pipeline(text))
    assert str(parse_pipeline(printed)) == printed
    return printed


# -------------------------------------------------------------------------------- registry


def test_register_and_lookup():
    assert get_pass("t-alpha") is Alpha
    assert registry.all_passes()["t-beta"] is Beta
    assert register_pass(Alpha) is Alpha  # re-registering the same class is harmless


def test_duplicate_and_nameless_registration_fail():
    clash = type("Clash", (Pass,), {"name": "t-alpha"})
    with pytest.raises(RegistrationError, match="already registered"):
        register_pass(clash)
    with pytest.raises(RegistrationError, match="no 'name'"):
        register_pass(type("Nameless", (Pass,), {}))
    with pytest.raises(RegistrationError, match="Pass subclass"):
        register_pass(int)  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match="used by a pass"):
        register_pipeline("t-alpha", "t-beta")


def test_unknown_name_suggests_a_close_match_and_lists_all():
    with pytest.raises(UnknownNameError) as info:
        get_pass("t-alhpa")
    msg = str(info.value)
    assert "unknown pass 't-alhpa'" in msg and "did you mean 't-alpha'" in msg
    assert "t-beta" in msg
    with pytest.raises(UnknownNameError, match="unknown pipeline"):
        get_pipeline("nope")


# ------------------------------------------------------------------------------- parsing


def test_nested_pipeline_with_options_round_trips():
    text = "builtin.module(func.func(t-beta{threshold=8 mode=fast}),t-alpha)"
    pm = parse_pipeline(text)
    assert pm.op_name == "builtin.module"
    nested = pm.passes[0]
    assert isinstance(nested, OpPassManager) and nested.op_name == "func.func"
    beta = nested.passes[0]
    assert beta.threshold == 8 and beta.mode == "fast" and beta.sizes == [8]
    assert str(pm) == text and pm.pipeline_text() == text


def test_bare_list_is_anchored_on_module_and_nests_op_specific_passes():
    assert roundtrip("t-alpha, t-beta , t-beta") == (
        "builtin.module(t-alpha,func.func(t-beta,t-beta))")
    assert roundtrip("func.func(t-beta)") == "builtin.module(func.func(t-beta))"
    assert roundtrip("") == "builtin.module()"
    assert roundtrip("builtin.module()") == "builtin.module()"
    assert roundtrip("any(t-alpha)") == "any(t-alpha)"


def test_option_value_kinds():
    pm = parse_pipeline('t-beta{threshold=0x10 ratio=2.5 fast mode="two words" '
                        'sizes=32,64 names={"a,b",c}}')
    beta = next(pm.all_passes())
    assert beta.threshold == 16 and beta.ratio == 2.5 and beta.fast is True
    assert beta.mode == "two words" and beta.sizes == [32, 64] and beta.names == ["a,b", "c"]
    printed = str(pm)
    assert 'mode="two words"' in printed and 'names="a,b",c' in printed
    again = next(parse_pipeline(printed).all_passes())
    assert again.options == beta.options


def test_list_options_in_braces_and_empty_lists():
    beta = next(parse_pipeline("t-beta{sizes={1,2,3} fast=false}").all_passes())
    assert beta.sizes == [1, 2, 3] and beta.fast is False
    empty = next(parse_pipeline("t-beta{sizes={}}").all_passes())
    assert empty.sizes == []
    assert roundtrip("t-beta{sizes={}}") == "builtin.module(func.func(t-beta{sizes={}}))"


@given(threshold=st.integers(-10**6, 10**6),
       mode=st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=12),
       sizes=st.lists(st.integers(0, 999), max_size=4))
def test_options_survive_print_and_parse(threshold, mode, sizes):
    pm = OpPassManager("builtin.module")
    pm.add(Beta(threshold=threshold, mode=mode, sizes=sizes))
    again = next(parse_pipeline(pm.pipeline_text()).all_passes())
    assert (again.threshold, again.mode, again.sizes) == (threshold, mode, sizes)


def column_of(err: PipelineParseError) -> int:
    return err.diagnostic.location.file_line_col().col


@pytest.mark.parametrize(("text", "col", "fragment"), [
    ("builtin.module(t-alhpa)", 16, "did you mean 't-alpha'"),
    ("t-alpha,,t-beta", 9, "expected a pass or op name"),
    ("builtin.module(t-alpha", 23, "expected ',' or ')'"),
    ("t-beta{thresold=3}", 8, "has no option 'thresold'; valid options: fast, mode, names"),
    ("t-beta{threshold=x}", 18, "expects an int, got 'x'"),
    ('t-beta{mode="open}', 13, "unterminated string"),
    ("t-beta{threshold=1", 19, "unterminated option list"),
    ("t-alpha)", 8, "expected ',' between pipeline elements"),
    ("t-alpha{x=1}", 9, "has no option 'x'; valid options: none"),
])
def test_errors_point_at_the_column(text, col, fragment):
    with pytest.raises(PipelineParseError) as info:
        parse_pipeline(text)
    err = info.value
    assert fragment in err.diagnostic.message
    assert column_of(err) == col
    rendered = str(err)
    assert rendered.splitlines()[1] == text  # the pipeline is quoted with a caret under it
    assert rendered.splitlines()[2] == " " * (col - 1) + "^"


# ------------------------------------------------------------------------ named pipelines


def test_named_pipeline_text_expands_in_place():
    register_pipeline("t-pipe", "t-alpha,func.func(t-beta{threshold=1})", "test pipeline")
    assert get_pipeline("t-pipe").description == "test pipeline"
    assert str(parse_pipeline("t-pipe,t-alpha")) == (
        "builtin.module(t-alpha,func.func(t-beta{threshold=1}),t-alpha)")
    assert "t-pipe" in registry.all_pipelines()


def test_named_pipeline_builder_fills_the_manager():
    def build(pm: OpPassManager) -> None:
        pm.add(Alpha())
        pm.nest("func.func").add(Beta(fast=True))

    register_pipeline("t-built", build, "built in Python")
    assert str(parse_pipeline("t-built")) == "builtin.module(t-alpha,func.func(t-beta{fast=true}))"


def test_named_pipeline_errors():
    register_pipeline("t-self", "t-self")
    register_pipeline("t-broken", "t-alpha,nope")
    with pytest.raises(PipelineParseError, match="expands to itself"):
        parse_pipeline("t-self")
    with pytest.raises(PipelineParseError, match="in named pipeline 't-broken'") as info:
        parse_pipeline("t-alpha,t-broken")
    assert column_of(info.value) == 9
    register_pipeline("t-mod", "builtin.module(t-alpha)")
    with pytest.raises(PipelineParseError, match="takes no options"):
        parse_pipeline("t-mod{x=1}")
    with pytest.raises(PipelineParseError, match=r"anchored on 'builtin\.module'"):
        parse_pipeline("func.func(t-mod)")
    with pytest.raises(RegistrationError, match="already registered"):
        register_pipeline("t-mod", "t-beta")
    with pytest.raises(RegistrationError, match="pipeline text or a builder"):
        register_pipeline("t-bad", 3)  # type: ignore[arg-type]
