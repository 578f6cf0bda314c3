"""Tests of the plugin manager (mixedmodels.plugin_manager.manager).

The plugins here are real distributions with entry points: each fixture folder under
``plugin_fixtures/`` is copied into ``tmp_path`` and put on ``sys.path``, where
``importlib.metadata`` finds its ``.dist-info`` as it finds a pip-installed one.  The
tests never depend on which built-ins exist (they are written elsewhere): they use the
fixtures' names and :func:`register_plugin`.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from mixedmodels.hookspec import hookimpl
from mixedmodels.plugin_manager import manager as _plugins

# Private: this file tests the plugin manager's internals (state, discovery).
from mixedmodels.plugin_manager.manager import (
    MixedModelsPluginWarning,
    PluginConflictError,
    UnknownNameError,
    format_plugins,
    get_covariance_structure,
    get_dataset,
    get_diagnostic,
    get_estimator,
    get_family,
    get_formatter,
    get_link,
    get_registration,
    get_tidier,
    plugin_status,
    plugins,
    register_plugin,
    registry,
    reset_plugins,
    unregister_plugin,
)

FIXTURES = Path(__file__).parents[1] / "plugin_fixtures"

# The built-ins are written by others and may not load yet; these tests do not rely on
# them, so their load failure is not what is under test here.
pytestmark = pytest.mark.filterwarnings("ignore:mixedmodels plugin 'builtin'")


def _purge_fixture_modules() -> None:
    for name in [m for m in sys.modules if m.startswith("mmfix_")]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def _clean_plugin_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("MIXEDMODELS_PLUGINS", raising=False)
    monkeypatch.delenv("MIXEDMODELS_DISABLE_PLUGINS", raising=False)
    _purge_fixture_modules()
    reset_plugins()
    yield
    reset_plugins()
    _purge_fixture_modules()


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Return ``install(*folders)``: put fixture distributions on ``sys.path``."""
    common = tmp_path / "common"
    shutil.copytree(FIXTURES / "common", common)
    monkeypatch.syspath_prepend(str(common))

    def _install(*folders: str) -> None:
        for folder in folders:
            site = tmp_path / folder
            shutil.copytree(FIXTURES / folder, site, ignore=shutil.ignore_patterns("__pycache__"))
            monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        reset_plugins()

    return _install


def _status(name: str) -> _plugins.PluginInfo:
    return {p.name: p for p in plugin_status()}[name]


def _plugin_warnings(record: list[warnings.WarningMessage], word: str) -> list[str]:
    return [
        str(w.message)
        for w in record
        if issubclass(w.category, MixedModelsPluginWarning) and word in str(w.message)
    ]


# ------------------------------------------------------------------- the mechanism


def test_fixture_distribution_is_found_by_importlib_metadata(
    install: Callable[..., None],
) -> None:
    install("good")
    eps = {ep.name: ep for ep in metadata.entry_points(group="mixedmodels")}
    assert eps["mmfix_good"].value == "mmfix_good"
    assert eps["mmfix_good"].dist is not None
    assert eps["mmfix_good"].dist.metadata["Name"] == "mmfix-good"
    assert metadata.version("mmfix-good") == "1.0"


# ------------------------------------------------------------------------ discovery


def test_discovery_registers_and_lists_with_distribution(install: Callable[..., None]) -> None:
    install("good")
    family = get_family("fixture_family")
    assert family.name == "fixture_family"
    assert get_estimator("fixture_estimator").name == "fixture_estimator"
    assert "fixture_family" in registry("family")
    assert registry("families") == registry("family")

    table = plugins()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["plugin", "distribution", "version", "kind", "name"]
    mine = table[table["plugin"] == "mmfix_good"]
    assert set(mine["distribution"]) == {"mmfix-good"}
    assert set(mine["version"]) == {"1.0"}
    assert set(zip(mine["kind"], mine["name"], strict=True)) == {
        ("link", "fixture_link"),
        ("family", "fixture_family"),
        ("covariance_structure", "fixture_cov"),
        ("estimator", "fixture_estimator"),
        ("diagnostic", "fixture_diagnostic"),
        ("dataset", "fixture_data"),
        ("tidier", "mmfix_common.FixtureResult"),
        ("formatter", "fixture_text"),
    }

    reg = get_registration("family", "fixture_family")
    assert reg.plugin.name == "mmfix_good"
    assert reg.plugin.distribution == "mmfix-good"
    assert reg.plugin.version == "1.0"
    assert _status("mmfix_good").status == "loaded"


def test_every_registry_has_an_accessor(install: Callable[..., None]) -> None:
    install("good")
    import mmfix_common

    assert get_link("fixture_link").name == "fixture_link"
    cov = get_covariance_structure("fixture_cov")
    assert isinstance(cov, type) and cov(2).dim == 2
    assert get_diagnostic("fixture_diagnostic").name == "fixture_diagnostic"
    assert get_dataset("fixture_data").load().shape == (3, 1)
    assert get_formatter("fixture_text")(None) == "fixture result"
    assert get_tidier(mmfix_common.FixtureResult()) is mmfix_common.FIXTURE_TIDIER
    assert set(registry("covariance_structures")) >= {"fixture_cov"}


def test_tidier_dispatch_walks_the_mro_and_most_specific_wins(
    install: Callable[..., None],
) -> None:
    install("good")
    import mmfix_common

    from mixedmodels.interfaces import Tidier

    sub = mmfix_common.FixtureSubResult()
    # Only the base class has a tidier: the subclass inherits it.
    assert get_tidier(sub) is mmfix_common.FIXTURE_TIDIER
    specific = Tidier(result_type=mmfix_common.FixtureSubResult)
    plugin = types.SimpleNamespace(mixedmodels_tidiers=hookimpl(lambda: [specific]))
    register_plugin(plugin, "subtidier")
    assert get_tidier(sub) is specific
    assert get_tidier(mmfix_common.FixtureSubResult) is specific
    assert get_tidier(mmfix_common.FixtureResult()) is mmfix_common.FIXTURE_TIDIER
    with pytest.raises(UnknownNameError, match=r"no tidier is registered for builtins\.int"):
        get_tidier(3)


def test_class_plugin_from_module_attr_entry_point(install: Callable[..., None]) -> None:
    install("other")
    assert get_estimator("other_estimator").name == "other_estimator"
    assert _status("mmfix_other").module == "mmfix_other:Plugin"


def test_the_builtin_entry_point_names_the_builtin_module() -> None:
    import tomllib

    # Private: the module name the manager loads the built-ins by.
    from mixedmodels.plugin_manager.environment import BUILTIN_MODULE

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["mixedmodels"] == {"builtin": BUILTIN_MODULE}
    installed = {ep.name: ep for ep in metadata.entry_points(group="mixedmodels")}
    if "builtin" in installed:  # absent when run from a source tree without metadata
        assert installed["builtin"].value == BUILTIN_MODULE
    status = _status("builtin")
    assert (status.status, status.module) == ("loaded", BUILTIN_MODULE)


def test_builtins_load_by_module_name_without_the_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = metadata.entry_points

    def without_builtin(**kwargs: str) -> list[metadata.EntryPoint]:
        return [ep for ep in real(**kwargs) if ep.name != "builtin"]

    monkeypatch.setattr(metadata, "entry_points", without_builtin)
    reset_plugins()
    status = _status("builtin")
    assert (status.status, status.module) == ("loaded", "mixedmodels._builtin")
    assert status.distribution == "mixedmodels"
    assert not plugins().query("plugin == 'builtin'").empty


def test_the_plugin_manager_never_imports_the_builtins_statically() -> None:
    import ast

    import mixedmodels.plugin_manager as package

    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any("_builtin" in name for name in names), (path.name, node.lineno)


def test_every_registry_is_one_registry_type(install: Callable[..., None]) -> None:
    # Private: one registry type for every kind.
    from mixedmodels.plugin_manager.registry import Registry

    install("good")
    registry("family")
    state = _plugins._state
    assert state is not None
    assert list(state.registries) == list(_plugins.KINDS)
    assert all(type(table) is Registry for table in state.registries.values())
    # Every loaded plugin is in the one pluggy manager, whose hook callers see them all.
    assert state.pm.get_plugin("mmfix_good") is not None
    families = {f.name for value in state.pm.hook.mixedmodels_families() for f in value}
    assert "fixture_family" in families


# ------------------------------------------------------------------------ isolation


def test_broken_import_is_skipped_with_a_warning(install: Callable[..., None]) -> None:
    install("good")
    baseline = {(p.name, p.status) for p in plugin_status()}
    reset_plugins()
    install("broken_import")
    with pytest.warns(MixedModelsPluginWarning) as record:
        assert get_family("fixture_family").name == "fixture_family"
    (message,) = _plugin_warnings(record.list, "mmfix_broken")
    assert "mmfix-broken 0.1" in message
    assert "ImportError" in message
    assert "needs a dependency that is not installed" in message
    status = _status("mmfix_broken")
    assert status.status == "failed"
    assert status.reason is not None and "ImportError" in status.reason
    # Everything else loads as it did without the broken plugin, built-ins included.
    assert {(p.name, p.status) for p in plugin_status() if p.name != "mmfix_broken"} == baseline


def test_a_raising_hook_skips_the_whole_plugin(install: Callable[..., None]) -> None:
    install("good", "raising_hook")
    with pytest.warns(MixedModelsPluginWarning) as record:
        registry("estimator")
    (message,) = _plugin_warnings(record.list, "mmfix_raising")
    assert "mmfix-raising 0.2" in message
    assert "RuntimeError: boom in mmfix_raising's families hook" in message
    # Its estimator hook worked, but the plugin is skipped as a whole.
    assert "raising_estimator" not in registry("estimator")
    assert "fixture_estimator" in registry("estimator")
    assert _status("mmfix_raising").status == "failed"
    with pytest.raises(UnknownNameError):
        get_estimator("raising_estimator")


def test_a_hook_returning_the_wrong_type_skips_the_plugin(
    install: Callable[..., None],
) -> None:
    install("bad_return")
    with pytest.warns(MixedModelsPluginWarning) as record:
        names = registry("estimator")
    (message,) = _plugin_warnings(record.list, "mmfix_badreturn")
    assert "TypeError" in message and "Family" in message
    assert "badreturn_estimator" not in names


def test_warnings_are_given_once_not_at_every_lookup(install: Callable[..., None]) -> None:
    install("broken_import")
    with pytest.warns(MixedModelsPluginWarning, match="mmfix_broken"):
        registry("family")
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixedModelsPluginWarning)
        registry("family")
        plugins()


def test_a_plugin_without_hookimpls_warns() -> None:
    empty = types.SimpleNamespace(mixedmodels_families=list)  # no @hookimpl
    registry("family")
    with pytest.warns(MixedModelsPluginWarning, match="forget the @hookimpl"):
        register_plugin(empty, "forgetful")


def test_a_hook_returning_none_registers_nothing() -> None:
    registry("family")
    plugin = types.SimpleNamespace(mixedmodels_estimators=hookimpl(lambda: None))
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixedModelsPluginWarning)
        register_plugin(plugin, "quiet")
    assert plugins().query("plugin == 'quiet'").empty


def test_formatters_hook_must_return_a_mapping() -> None:
    listed = types.SimpleNamespace(mixedmodels_formatters=hookimpl(lambda: [print]))
    with pytest.raises(TypeError, match=r"mixedmodels_formatters\(\) must return a mapping"):
        register_plugin(listed, "listed")
    uncallable = types.SimpleNamespace(mixedmodels_formatters=hookimpl(lambda: {"x": 3}))
    with pytest.raises(TypeError, match="formatter 'x': 3 is not callable"):
        register_plugin(uncallable, "uncallable")
    mapped = types.SimpleNamespace(mixedmodels_formatters=hookimpl(lambda: {"mmfix_fmt": str}))
    register_plugin(mapped, "mapped")
    assert get_formatter("mmfix_fmt") is str


# ------------------------------------------------------------------------ conflicts


def test_two_plugins_registering_one_family_name_conflict(
    install: Callable[..., None],
) -> None:
    install("good", "conflict")
    with pytest.raises(PluginConflictError) as info:
        get_family("fixture_family")
    message = str(info.value)
    assert "family 'fixture_family'" in message
    assert "'mmfix_good' (mmfix-good 1.0)" in message
    assert "'mmfix_conflict' (mmfix-conflict 0.3)" in message
    assert isinstance(info.value, RuntimeError)
    (conflict,) = info.value.conflicts
    assert conflict[:2] == ("family", "fixture_family")
    # The failed discovery is remembered, not silently retried into a half state.
    with pytest.raises(PluginConflictError):
        registry("estimator")


def test_conflict_is_resolved_by_disabling_one(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("good", "conflict")
    monkeypatch.setenv("MIXEDMODELS_DISABLE_PLUGINS", "mmfix_conflict")
    reset_plugins()
    assert get_registration("family", "fixture_family").plugin.name == "mmfix_good"


def test_one_entry_point_name_in_two_distributions_conflicts(
    install: Callable[..., None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A distribution written on the spot: the same entry-point name as mmfix-good.
    site = tmp_path / "impostor"
    info = site / "mmfix_impostor-9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mmfix-impostor\nVersion: 9.9\n")
    (info / "entry_points.txt").write_text("[mixedmodels]\nmmfix_good = mmfix_common\n")
    monkeypatch.syspath_prepend(str(site))
    install("good")
    with pytest.raises(PluginConflictError, match="plugin name 'mmfix_good'") as err:
        registry("family")
    assert "mmfix-impostor" in str(err.value) and "mmfix-good" in str(err.value)


def test_register_plugin_conflict_leaves_registries_untouched(
    install: Callable[..., None],
) -> None:
    install("good")
    import mmfix_common

    clash = types.SimpleNamespace(
        mixedmodels_families=hookimpl(lambda: [mmfix_common.make_family("fixture_family")]),
        mixedmodels_estimators=hookimpl(lambda: [mmfix_common.make_estimator("new_one")]),
    )
    with pytest.raises(PluginConflictError, match="'clash' \\(registered in-process\\)"):
        register_plugin(clash, "clash")
    assert "new_one" not in registry("estimator")
    assert "clash" not in {p.name for p in plugin_status()}
    assert get_registration("family", "fixture_family").plugin.name == "mmfix_good"


def test_one_plugin_registering_a_name_twice_conflicts(install: Callable[..., None]) -> None:
    install("good")
    import mmfix_common

    twice = types.SimpleNamespace(
        mixedmodels_estimators=hookimpl(
            lambda: [mmfix_common.make_estimator("twin"), mmfix_common.make_estimator("twin")]
        )
    )
    with pytest.raises(PluginConflictError, match="'twin' is registered twice by plugin"):
        register_plugin(twice, "twice")
    assert "twin" not in registry("estimator")


# --------------------------------------------------------------------- unknown names


def test_unknown_name_is_a_readable_key_and_value_error(install: Callable[..., None]) -> None:
    install("good")
    with pytest.raises(UnknownNameError) as info:
        get_family("Fixture_Family")
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, ValueError)
    assert err.kind == "family" and err.name == "Fixture_Family"
    assert "fixture_family" in err.available
    message = str(err)
    assert message.startswith("unknown family 'Fixture_Family'")  # not repr()-quoted
    assert "did you mean 'fixture_family'?" in message
    assert "Registered families:" in message and "fixture_family" in message


def test_unknown_name_says_which_distribution_provides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _plugins.KNOWN_PROVIDERS["estimator"]["gee"] == "mixedmodels-gee"
    assert _plugins.KNOWN_PROVIDERS["covariance_structure"]["matern"] == "mixedmodels-spatial"
    assert _plugins.KNOWN_PROVIDERS["diagnostic"]["dharma"] == "mixedmodels-diagnostics"
    assert _plugins.KNOWN_PROVIDERS["estimator"]["nuts"] == "mixedmodels-bayes"
    # A provider that is surely not installed, so the hint is the install command.
    monkeypatch.setitem(_plugins.KNOWN_PROVIDERS["estimator"], "fixture_gee", "mmfix-absent")
    with pytest.raises(UnknownNameError) as info:
        get_estimator("fixture_gee")
    assert "estimator 'fixture_gee' is provided by mmfix-absent: pip install mmfix-absent" in str(
        info.value
    )
    assert info.value.provider == "mmfix-absent"


def test_provider_hint_when_installed_but_not_loaded(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("other")
    monkeypatch.setitem(_plugins.KNOWN_PROVIDERS["estimator"], "other_estimator", "mmfix-other")
    monkeypatch.setenv("MIXEDMODELS_DISABLE_PLUGINS", "mmfix_other")
    reset_plugins()
    with pytest.raises(UnknownNameError) as info:
        get_estimator("other_estimator")
    message = str(info.value)
    assert "provided by mmfix-other, which is installed" in message
    assert "'mmfix_other' is not loaded: disabled by MIXEDMODELS_DISABLE_PLUGINS" in message


def test_unknown_kind_and_non_string_names() -> None:
    with pytest.raises(ValueError, match="unknown registry kind 'familys'"):
        registry("familys")
    with pytest.raises(TypeError, match="family name must be a string"):
        get_family(3)  # type: ignore[arg-type]


# --------------------------------------------------------------- environment variables


def test_mixedmodels_plugins_loads_only_those_named(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("good", "other")
    monkeypatch.setenv("MIXEDMODELS_PLUGINS", " mmfix_other ")
    reset_plugins()
    assert "other_estimator" in registry("estimator")
    assert "fixture_estimator" not in registry("estimator")
    good = _status("mmfix_good")
    assert good.status == "disabled" and "MIXEDMODELS_PLUGINS" in (good.reason or "")
    # The core's own plugin is always considered (loaded, or failed while it is built).
    assert _status("builtin").status != "disabled"


@pytest.mark.parametrize("value", ["", "builtin", " , "])
def test_mixedmodels_plugins_empty_or_builtin_means_builtins_only(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    install("good", "other")
    monkeypatch.setenv("MIXEDMODELS_PLUGINS", value)
    reset_plugins()
    assert plugins().query("plugin != 'builtin'").empty
    assert _status("builtin").status != "disabled"
    assert {_status("mmfix_good").status, _status("mmfix_other").status} == {"disabled"}


def test_mixedmodels_disable_plugins_skips_those_named(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("good", "other", "broken_import")
    monkeypatch.setenv("MIXEDMODELS_DISABLE_PLUGINS", "mmfix_broken,mmfix_other")
    reset_plugins()
    with warnings.catch_warnings():
        # A disabled plugin is not even imported, so its import error never shows.
        warnings.filterwarnings("error", message=".*mmfix_broken", category=UserWarning)
        names = registry("estimator")
    assert "fixture_estimator" in names and "other_estimator" not in names
    assert "mmfix_broken" not in sys.modules
    assert _status("mmfix_other").reason == "disabled by MIXEDMODELS_DISABLE_PLUGINS"


def test_disable_wins_over_plugins(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("good")
    monkeypatch.setenv("MIXEDMODELS_PLUGINS", "mmfix_good")
    monkeypatch.setenv("MIXEDMODELS_DISABLE_PLUGINS", "mmfix_good")
    reset_plugins()
    assert "fixture_family" not in registry("family")


def test_env_var_naming_an_absent_plugin_warns(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("good")
    monkeypatch.setenv("MIXEDMODELS_PLUGINS", "mmfix_good,mmfix_typo")
    reset_plugins()
    with pytest.warns(
        MixedModelsPluginWarning, match="MIXEDMODELS_PLUGINS names plugin 'mmfix_typo'"
    ):
        assert "fixture_family" in registry("family")


def test_env_changes_take_effect_after_reset(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("good")
    assert "fixture_family" in registry("family")
    monkeypatch.setenv("MIXEDMODELS_DISABLE_PLUGINS", "mmfix_good")
    assert "fixture_family" in registry("family")  # discovery is cached ...
    reset_plugins()
    assert "fixture_family" not in registry("family")  # ... until reset


# ---------------------------------------------------------------- in-process plugins


def test_register_and_unregister_an_in_process_plugin(install: Callable[..., None]) -> None:
    install("good")
    import mmfix_common

    module = types.ModuleType("my_session_plugin")
    module.mixedmodels_estimators = hookimpl(  # type: ignore[attr-defined]
        lambda: [mmfix_common.make_estimator("session_estimator")]
    )
    info = register_plugin(module, "session", distribution="my-dist", version="0.0.1")
    assert info.module == "my_session_plugin"
    assert get_estimator("session_estimator").name == "session_estimator"
    row = plugins().query("name == 'session_estimator'").iloc[0]
    assert (row["plugin"], row["distribution"], row["version"]) == ("session", "my-dist", "0.0.1")
    with pytest.raises(ValueError, match="already registered"):
        register_plugin(types.SimpleNamespace(), "session")

    unregister_plugin("session")
    assert "session_estimator" not in registry("estimator")
    assert _status("session").status == "disabled"
    with pytest.raises(KeyError):
        unregister_plugin("session")
    # Its name is free again.
    register_plugin(module, "session")
    assert "session_estimator" in registry("estimator")


def test_register_plugin_raises_its_hooks_errors() -> None:
    def boom() -> list[object]:
        raise RuntimeError("bad hook")

    plugin = types.SimpleNamespace(mixedmodels_families=hookimpl(boom))
    with pytest.raises(RuntimeError, match="bad hook"):
        register_plugin(plugin, "boomer")
    assert "boomer" not in {p.name for p in plugin_status()}


def test_a_hook_that_uses_the_registry_during_discovery_is_skipped(
    install: Callable[..., None],
) -> None:
    install("good", "reentrant")
    with pytest.warns(MixedModelsPluginWarning, match="mmfix_reentrant.*during discovery"):
        assert "fixture_family" in registry("family")
    assert _status("mmfix_reentrant").status == "failed"


# ------------------------------------------------------------------------- listings


def test_format_plugins_lists_loaded_and_not_loaded(install: Callable[..., None]) -> None:
    install("good", "broken_import")
    with pytest.warns(MixedModelsPluginWarning):
        text = format_plugins()
    assert "'mmfix_good' (mmfix-good 1.0)" in text
    assert "families:" in text and "fixture_family" in text
    assert "estimators:" in text and "fixture_estimator" in text
    assert "not loaded:" in text
    assert "'mmfix_broken' (mmfix-broken 0.1): failed, ImportError" in text


def test_plugins_frame_is_empty_but_well_formed_with_nothing_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MIXEDMODELS_DISABLE_PLUGINS", "builtin")
    monkeypatch.setenv("MIXEDMODELS_PLUGINS", "")
    reset_plugins()
    table = plugins()
    assert table.empty
    assert list(table.columns) == ["plugin", "distribution", "version", "kind", "name"]
    assert "no plugins loaded" in format_plugins()


# -------------------------------------------------------------------- import cost


def test_import_does_not_discover_plugins() -> None:
    code = (
        "import sys, time, json\n"
        "t0 = time.perf_counter()\n"
        "import mixedmodels\n"
        "elapsed = time.perf_counter() - t0\n"
        "import mixedmodels.plugin_manager.manager as p\n"
        "print(json.dumps({'discovered': p._state is not None or p._error is not None,\n"
        "                  'pandas': 'pandas' in sys.modules, 'seconds': elapsed}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    # Timing is reported by benchmarks, never asserted in tests.
    assert result["discovered"] is False


def test_importing_the_plugin_manager_imports_neither_pandas_nor_scipy() -> None:
    def heavy_modules_after(statement: str) -> str:
        code = (
            f"import sys\n{statement}\n"
            "print(sorted(m for m in ('pandas', 'scipy') if m in sys.modules))"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        return run.stdout.strip()

    # _plugins adds neither to what `import mixedmodels` itself imports.
    assert heavy_modules_after("import mixedmodels.plugin_manager.manager") == heavy_modules_after(
        "import mixedmodels"
    )
