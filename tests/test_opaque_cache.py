"""The cache is opaque, checked values get a fair verdict, and grader errors are the grader's.

- whatever the forward returns as its cache stays in the student's process, and the
  backward receives that very object, even when it could never be encoded;
- values a student may reasonably return in a checked position (views, channels-last,
  subclasses, ``nn.Parameter``, ``torch.Size``, namedtuples, numpy) decode on the judge side,
  and a non-tensor gets a message in the student's own terms;
- an answer the judge cannot read is a grader error: held for review, flagged, not the
  student's fault; a student who prints "time limit" and then crashes is not a timeout.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch

from autograder import build, points
from autograder.grading import grade, hidden_tests
from autograder.grading.child.wire import Codec, Handle, ProtocolError
from autograder.grading.results import SubmissionResult, TestResult
from autograder.grading.sandbox import CallResult, Sandbox

CACHE_KINDS = ["size", "namedtuple", "dataclass", "closure", "lambda", "generator", "lock",
               "mixed_keys", "set", "module", "bn_param", "self_reference", "numpy_scalar"]

CACHE_CODE = '''
import collections
import dataclasses
import threading

import numpy as np

_Pair = collections.namedtuple("_Pair", ["shape", "scale"])


@dataclasses.dataclass
class _Saved:
    shape: object
    eps: float


_LAST = {}


def _make(kind, x, bn_param):
    if kind == "size":
        return x.shape
    if kind == "namedtuple":
        return _Pair(x.shape, 2.0)
    if kind == "dataclass":
        return _Saved(x.shape, 1e-5)
    if kind == "closure":
        def backward(dout):
            return dout * 2
        return backward
    if kind == "lambda":
        return lambda dout: dout * 2
    if kind == "generator":
        return (i for i in range(3))
    if kind == "lock":
        return (threading.Lock(), x.shape)
    if kind == "mixed_keys":
        return {1: x.shape, ("a", 2): [object()], "eps": 1e-5}
    if kind == "set":
        return {1, 2, 3}
    if kind == "module":
        return np
    if kind == "bn_param":
        return (bn_param, x.shape, 3)
    if kind == "self_reference":
        box = []
        box.append(box)
        return box
    if kind == "numpy_scalar":
        return (np.float64(1e-5), np.int64(7), x.shape)
    raise ValueError(kind)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    kind = bn_param.pop("kind")
    cache = _make(kind, x, bn_param)
    _LAST[kind] = cache
    out = x * 1
    if bn_param.pop("as_namedtuple", False):
        return _Pair(out, cache), None
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    same = any(cache is c for c in _LAST.values())
    return dout + 0, torch.full((dout.shape[1],), float(same)), torch.zeros(dout.shape[1])
'''


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(slot=11) as sb:
        yield sb


@pytest.fixture(scope="module")
def child(sandbox, tmp_path_factory):
    sub = tmp_path_factory.mktemp("opaque") / "cache"
    build.solution(sub)
    with open(sub / "source" / "batchnorm.py", "a") as fh:
        fh.write("\n\n" + CACHE_CODE)
    workdir, _ = sandbox.prepare(sub)
    child = sandbox.spawn(workdir)
    assert child.load("batchnorm", timeout=60).ok
    yield child
    child.close()


@pytest.mark.parametrize("kind", CACHE_KINDS)
def test_any_cache_round_trips_to_the_backward(child, kind):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    g, b = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    fwd = child.call("batchnorm", "spatial_batchnorm_forward",
                     [x, g, b, {"mode": "train", "kind": kind}], timeout=30, keep=(1,))
    assert fwd.ok, (fwd.error, fwd.grader_error)
    out, cache = fwd.value
    assert torch.equal(out, x)
    assert isinstance(cache, Handle)  # the judge never sees the student's object
    bwd = child.call("batchnorm", "spatial_batchnorm_backward", [x, cache], timeout=30)
    assert bwd.ok, (bwd.error, bwd.grader_error)
    dx, same, _ = bwd.value
    assert torch.equal(dx, x)
    assert same.tolist() == [1.0, 1.0, 1.0], f"the backward did not get the {kind} cache back"
    assert isinstance(bwd.args_after[1], Handle)  # and it goes back as a handle, unread


def test_forward_may_return_a_namedtuple(child):
    x = torch.randn(2, 3, 2, 2)
    fwd = child.call("batchnorm", "spatial_batchnorm_forward",
                     [x, torch.ones(3), torch.zeros(3),
                      {"mode": "train", "kind": "size", "as_namedtuple": True}],
                     timeout=30, keep=(1,))
    assert fwd.ok, (fwd.error, fwd.grader_error)
    assert isinstance(fwd.value, tuple) and isinstance(fwd.value[1], Handle)


# ------------------------------------------------------------------ checked values on the wire

class MyTensor(torch.Tensor):
    pass


def _round_trip(value):
    codec, blobs = Codec(torch, np), []
    return codec.decode(codec.encode(value, blobs), blobs)


@pytest.mark.parametrize("make", [
    lambda: torch.arange(24.).reshape(4, 6).T,  # a non-contiguous view
    lambda: torch.arange(24.).reshape(2, 3, 2, 2)[:, 1:],
    lambda: torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
    lambda: torch.randn(2, 3, 4, 5).permute(0, 2, 3, 1).permute(0, 3, 1, 2),
    lambda: torch.nn.Parameter(torch.randn(3)),
    lambda: torch.randn(3, 4).as_subclass(MyTensor),
    lambda: torch.randn(3, 2, dtype=torch.float64).expand(3, 2),
], ids=["transposed", "sliced", "channels_last", "permuted", "parameter", "subclass",
        "expanded"])
def test_checked_tensors_keep_their_values(make):
    value = make()
    back = _round_trip(value)
    assert type(back) is torch.Tensor
    assert back.shape == value.shape and back.dtype == value.dtype
    assert torch.equal(back, value.detach().as_subclass(torch.Tensor))


def test_checked_containers_and_scalars_decode_as_plain_values():
    Pair = collections.namedtuple("Pair", "a b")
    assert _round_trip(torch.Size([2, 3])) == (2, 3)
    assert _round_trip(Pair(1, 2.5)) == (1, 2.5)
    assert _round_trip([torch.zeros(2), 3]) [1] == 3
    assert _round_trip(np.float32(1.5)) == 1.5 and _round_trip(np.int64(4)) == 4
    array = _round_trip(np.arange(6.).reshape(2, 3).T)
    assert isinstance(array, np.ndarray) and array.tolist() == [[0, 3], [1, 4], [2, 5]]


@pytest.mark.parametrize("value, words", [
    (np.zeros(3), "torch.from_numpy"),
    ([1.0, 2.0], "Python list"),
    ((1, 2), "Python tuple"),
    (2.5, "Python number"),
    (None, "return statement"),
    (Handle(3, "function"), "object of type function"),
])
def test_a_non_tensor_is_named_in_the_students_terms(value, words):
    with pytest.raises(hidden_tests.Fail) as info:
        hidden_tests.as_tensor(value, "dx")
    assert "expected a torch.Tensor" in str(info.value) and words in str(info.value)


# ------------------------------------------------------------------ grader errors

class _Session:
    """A session whose student process always answers what the judge cannot read."""

    def caller(self, module, budget):
        def call(fn, args, no_autograd=False, keep=()):
            return CallResult(False, grader_error="unreadable result (ProtocolError: x)")
        return call


def test_an_unreadable_answer_is_a_grader_error_not_a_failure():
    test = hidden_tests.TESTS["bn_backward_dx"]
    outcome = grade.run_hidden_test(test, _Session(), 1, 5.0)
    assert outcome.grader_error and not outcome.timed_out
    assert "not your" in outcome.message.lower() or "grader's fault" in outcome.message
    result = SubmissionResult("s", [TestResult.of(test.name, 4.0, outcome.message,
                                                  outcome.grader_error)]).to_json()
    entry = result["tests"][0]
    assert entry["score"] == 0 and entry["status"] == "error"  # SPEC: points pending, not a loss
    assert "unreadable result" in entry["grader_error"]
    assert any(f.startswith("grader error: bn_backward_dx") for f in result["flags"])


def test_grader_error_end_to_end(tmp_path, monkeypatch, sandbox):
    """The judge fails to decode every backward answer: those tests are held, flagged."""
    sub = tmp_path / "ref"
    build.solution(sub)
    original = Codec.decode

    def decode(self, enc, blobs):
        if isinstance(enc, dict) and enc.get("t") == "tuple" and len(enc["items"]) == 3:
            raise ProtocolError("simulated")
        return original(self, enc, blobs)

    monkeypatch.setattr(Codec, "decode", decode)
    result = grade.grade_submission(sub, sandbox=sandbox)
    held = {t["name"] for t in result["tests"] if t.get("grader_error")}
    assert {"bn_backward_dx", "bn_backward_dgamma_dbeta"} <= held
    assert all(t["section"] == "spatial_batchnorm" for t in result["tests"]
               if t["name"] in held)
    assert result["sections"]["cross_correlation"]["score"] == 15.0
    assert any(f.startswith("grader error: bn_backward_dx") for f in result["flags"])
    for t in result["tests"]:
        if t["name"] in held:
            assert "ProtocolError" not in t["output"] and "grader" in t["output"]


# ------------------------------------------------------------------ timeouts are a field

def test_stop_carries_timed_out_as_a_field():
    ctx = hidden_tests.Context(
        lambda fn, args, **kw: CallResult(False, crashed=True, output="time limit"), 1, "t")
    with pytest.raises(hidden_tests.Stop) as info:
        ctx.call("cross_corr_2d")
    assert "time limit" in str(info.value) and info.value.timed_out is False
    ctx = hidden_tests.Context(lambda fn, args, **kw: CallResult(False, timed_out=True), 1, "t")
    with pytest.raises(hidden_tests.Stop) as info:
        ctx.call("cross_corr_2d")
    assert info.value.timed_out is True


def test_printed_time_limit_then_crash_is_not_a_timeout(tmp_path, sandbox):
    sub = tmp_path / "liar"
    build.solution(sub)
    with open(sub / "source" / "cross_correlation.py", "a") as fh:
        fh.write("\n\nimport os\n\n\ndef cross_corr_2d(X, K):\n"
                 "    print('time limit exceeded', flush=True)\n    os._exit(1)\n")
    result = grade.grade_submission(sub, sandbox=sandbox, timeout=20)
    assert not any(f.startswith("timeout") for f in result["flags"]), result["flags"]
    cc = [t for t in result["tests"] if t["section"] == "cross_correlation"]
    assert all(t["score"] == 0 for t in cc)
    assert not any("timed out" in t["output"] for t in cc)  # no test was skipped as a timeout
    assert any("time limit exceeded" in t["output"] for t in cc)  # the crash is reported
    assert result["sections"]["spatial_batchnorm"]["score"] == 25.0


def test_scoring_rule_lives_with_the_tests():
    test = hidden_tests.TESTS["cc_values_nonsquare"]
    n = len(test.cases)
    assert test.fraction(n) == 1.0 and test.fraction(0) == 0.0
    assert test.fraction(1) == pytest.approx(1 / n)
    assert TestResult.of(test.name, points.TESTS[test.name][1], "ok").status == "passed"


def test_instructor_report_lists_tests_held_for_review():
    from autograder.grading import reports

    held = TestResult.of("bn_backward_dx", 4.0, "not scored yet", "unreadable result (x)")
    ok = [TestResult.of(n, points.TESTS[n][1], "passed") for n in points.TESTS
          if n != "bn_backward_dx"]
    result = SubmissionResult("alice", ok + [held], seed=1, elapsed_s=0.1).to_json()
    text = reports.report_markdown([result])
    section = text.split("## Held for review (grader errors)")[1].split("##")[0]
    assert "**alice**" in section and "bn_backward_dx" in section
    assert "bn_backward_dx" not in text.split("## Most-failed tests")[1].split("##")[0]
    reports.validate({"submissions": [result]}, "grade")  # the extra fields are allowed
    reports.validate({"submissions": [reports.spec_entry(result)]}, "grade")


@pytest.mark.parametrize("value", [
    torch.arange(12.).reshape(3, 4).T,
    torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
    torch.randn(2, 3, 4).permute(2, 0, 1),
], ids=["transposed", "channels_last", "permuted"])
def test_a_permuted_layout_crosses_the_wire_as_it_is(value):
    """So a student's code meets the non-contiguous inputs the hidden tests mean to give it,
    and the judge sees a channels-last result as it was returned."""
    back = _round_trip(value)
    assert back.stride() == value.stride() and not back.is_contiguous()
    assert torch.equal(back, value)
