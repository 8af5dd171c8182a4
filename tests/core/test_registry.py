"""Discovery through real entry points: throwaway distributions on sys.path."""

import sys

import pytest

import lab_core
from lab_core import PluginConflict, Registry, UnknownPlugin
from lab_core.registry import Status
from lab_core.testing import make_distribution

READER_SOURCE = """
import lab_core
from lab_core import Reader, Sample

class {cls}(Reader):
    def read(self, variables):
        return [Sample(v.codename, 1.0, 42.0) for v in variables]

@lab_core.hookimpl
def lab_readers():
    return {{"{reader}": {cls}}}
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LAB_DISABLE_PLUGINS", raising=False)
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("tp_")]:
        del sys.modules[name]


def reader_dist(site, dist, reader, **kw):
    cls = "R" + dist.replace("-", "_")
    return make_distribution(site, dist, module=f"tp_{dist.replace('-', '_')}",
                             source=READER_SOURCE.format(cls=cls, reader=reader), **kw)


def test_discovers_a_third_party_reader_and_makes_it(site):
    reader_dist(site, "lab-thermo", "thermo")
    registry = Registry()
    names = {p.name: p for p in registry.plugins()}
    assert names["lab-thermo"].distribution == "lab-thermo" and names["lab-thermo"].version == "1.0"
    assert names["core"].distribution == "lab-core"
    reader = registry.reader("thermo")
    assert reader.read([lab_core.Variable(1, "x", "a", "r")])[0].value == 42.0
    assert names["lab-thermo"].status is Status.LOADED
    assert names["lab-thermo"].provides == {"reader": ["thermo"]}


def test_listing_imports_no_plugin(site):
    reader_dist(site, "lab-lazy", "lazy")
    plugins = Registry().plugins()
    assert "lab-lazy" in {p.name for p in plugins}
    assert "tp_lab_lazy" not in sys.modules
    assert all(p.status is Status.FOUND for p in plugins)


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_work(site):
    make_distribution(site, "lab-broken", module="tp_broken", source="import does_not_exist\n")
    reader_dist(site, "lab-fine", "fine")
    registry = Registry()
    assert registry.reader("fine") is not None
    broken = {p.name: p for p in registry.plugins()}["lab-broken"]
    assert broken.status is Status.FAILED
    assert "ModuleNotFoundError" in broken.error and "does_not_exist" in broken.error
    with pytest.raises(UnknownPlugin, match="lab-broken.*does_not_exist"):
        registry.reader("nosuch")


def test_a_misspelled_hook_marks_the_plugin_failed_naming_the_closest_hook(site):
    make_distribution(site, "lab-typo", module="tp_typo", source="""
        from lab_core import hookimpl

        @hookimpl
        def lab_reader():
            return {"typo": "tp_typo:Nothing"}
    """)
    reader_dist(site, "lab-fine", "fine")
    registry = Registry()
    assert registry.reader("fine") is not None  # the rest keep working
    typo = {p.name: p for p in registry.plugins()}["lab-typo"]
    assert typo.status is Status.FAILED
    assert typo.error == "hook implementation lab_reader matches no hook of lab (did you mean lab_readers?); rename it"


def test_two_distributions_claiming_one_name_is_a_conflict_naming_both(site):
    reader_dist(site, "lab-alpha", "probe")
    reader_dist(site, "lab-beta", "probe", version="2.1")
    reader_dist(site, "lab-gamma", "other")
    registry = Registry()
    with pytest.raises(PluginConflict, match=r"lab-alpha 1\.0 and lab-beta 2\.1|lab-beta 2\.1 and lab-alpha 1\.0"):
        registry.reader("probe")
    assert registry.reader("other") is not None  # the rest keep working


def test_an_incompatible_plugin_is_refused_before_import_saying_what_fits(site):
    reader_dist(site, "lab-future", "future", requires=("lab-core>=2,<3",))
    registry = Registry()
    info = {p.name: p for p in registry.plugins()}["lab-future"]
    assert info.status is Status.INCOMPATIBLE
    assert "needs lab-core <3,>=2" in info.error and "this is lab-core 1.0.0" in info.error
    with pytest.raises(UnknownPlugin, match="(?s)not available.*versions that fit: <3,>=2"):
        registry.reader("future")
    assert "tp_lab_future" not in sys.modules


def test_a_compatible_requirement_is_accepted(site):
    reader_dist(site, "lab-current", "current", requires=("lab-core>=1.0,<2", "attrs"))
    assert Registry().reader("current") is not None


def test_disabled_by_environment_or_argument_before_import(site, monkeypatch):
    reader_dist(site, "lab-off", "off")
    reader_dist(site, "lab-off2", "off2")
    monkeypatch.setenv("LAB_DISABLE_PLUGINS", "lab-off, other")
    registry = Registry(disabled=["lab-off2"])
    status = {p.name: p.status for p in registry.plugins()}
    assert status["lab-off"] is Status.DISABLED and status["lab-off2"] is Status.DISABLED
    with pytest.raises(UnknownPlugin):
        registry.reader("off")
    assert "tp_lab_off" not in sys.modules


def test_lazy_targets_are_imported_only_when_made(site):
    (site / "tp_heavy_impl.py").write_text(
        "from lab_core import Writer\nclass Heavy(Writer):\n    def write(self, batch): pass\n")
    make_distribution(site, "lab-heavy", module="tp_heavy", source=(
        "import lab_core\n@lab_core.hookimpl\ndef lab_writers():\n    return {'heavy': 'tp_heavy_impl:Heavy'}\n"))
    registry = Registry()
    registry.components("writer")
    assert "tp_heavy" in sys.modules and "tp_heavy_impl" not in sys.modules
    assert type(registry.writer("heavy")).__name__ == "Heavy"


def test_bad_options_name_the_plugin(site):
    with pytest.raises(lab_core.ConfigError, match=r"writers\.csv\.colour: unknown key 'colour'"):
        Registry().writer("csv", colour="red")


def test_core_registers_its_embedded_plugins_through_its_own_entry_point():
    registry = Registry()
    core = {p.name: p for p in registry.plugins()}["core"]
    assert core.module == "lab_core.plugin"
    assert set(registry.components("writer")) >= {"csv", "sqlite", "console", "null"}
    assert "demo" in registry.components("reader")
