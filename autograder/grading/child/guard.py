"""The run-time guard: denies and records banned operators while student code runs.

The ban lists come from the judge (``assignment.guard_config()``, in the zygote's config):
nothing here is secret. The student's code runs in this process and can reach all of it,
so the guard is one of three checks: the judge reads the source statically, and after every
call the server probes the guard (``probe``) and the judge flags a guard that stopped
answering as disabled.
"""

from __future__ import annotations

import re
import sys


class ForbiddenOperation(BaseException):
    """A banned operator was called. A BaseException, so that ``except Exception`` in
    student code does not swallow it."""


class Watch:
    """A TorchDispatchMode sees every operator, however it was reached (aliases, getattr,
    torch.ops, nn modules, nn.grad); Python wrappers see autograd entry points and numpy.
    Autograd is also seen at the dispatch level: an operator that runs inside the engine
    (a graph task: Tensor.backward, autograd.grad, a vjp pullback, a private engine) or that
    records a graph (grad mode with an input that requires grad)."""

    def __init__(self, torch, numpy, bans: dict):
        from torch.utils._python_dispatch import TorchDispatchMode

        self.torch = torch
        self.bans = bans
        self.found: set[str] = set()
        self.rules: frozenset[str] = frozenset()
        self.function = ""
        # `active` is a property over a closure: switching it off during a call and on again
        # before returning (student code that reached this object) is recorded as tampering,
        # not only an `active` found wrong at the end.
        switch = {"on": False, "armed": False, "flipped": False}

        def get_active(_watch) -> bool:
            return switch["on"]

        def set_active(_watch, value) -> None:
            if switch["armed"] and value is not True:
                switch["flipped"] = True
            switch["on"] = value is True

        self.__class__ = type(type(self).__name__, (type(self),),
                              {"active": property(get_active, set_active), "__slots__": ()})
        self._switch = switch
        aten = {op: family for family, spec in bans.items() for op in spec["aten"]}
        other = {family: re.compile(spec["other_namespaces"]) for family, spec in bans.items()
                 if spec["other_namespaces"] not in ("", "^$")}
        watch = self
        graph_task = torch._C._current_graph_task_id
        grad_enabled = torch.is_grad_enabled
        Tensor = torch.Tensor

        def records_graph(args) -> bool:
            if not grad_enabled():
                return False
            for a in args:
                if isinstance(a, (list, tuple)):
                    if any(isinstance(b, Tensor) and b.requires_grad for b in a):
                        return True
                elif isinstance(a, Tensor) and a.requires_grad:
                    return True
            return False

        class Mode(TorchDispatchMode):
            @classmethod
            def _should_skip_dynamo(cls) -> bool:
                # torch would wrap __torch_dispatch__ in torch._disable_dynamo, whose first
                # call imports torch._dynamo (2 s on this machine, on every grader's start).
                # `dispatch` below keeps what it is for: once dynamo is loaded (the student
                # imported it), the mode's frames are still never compiled.
                return False

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                return dispatch(self, func, types, args, kwargs)

            def _watch(self, func, types, args=(), kwargs=None):
                if watch.active:
                    namespace, _, name = func._schema.name.partition("::")
                    if namespace == "aten":
                        family = aten.get(name)
                    else:
                        family = next((f for f, p in other.items()
                                       if p.search(func._schema.name)), None)
                    if family in watch.rules:
                        watch.deny(family, func._schema.name)
                    if "autograd" in watch.rules:
                        if graph_task() != -1:
                            watch.deny("autograd", f"the autograd engine ran {name}")
                        if records_graph(args):
                            watch.deny("autograd", f"{name} on a tensor that requires grad")
                return func(*args, **(kwargs or {}))

        disabled: list = []

        def dispatch(mode, func, types, args, kwargs):
            disable = getattr(sys.modules.get("torch._dynamo"), "disable", None)
            if disable is None:  # nothing can be compiling: dynamo is not (yet) loaded
                return Mode._watch(mode, func, types, args, kwargs)
            if not disabled:
                disabled.append(disable(Mode._watch, recursive=True))
            return disabled[0](mode, func, types, args, kwargs)

        self.mode_class = Mode
        modules = {"numpy": numpy, "torch": torch}
        for family, spec in bans.items():
            for dotted in spec["python"]:
                head, *middle, attr = dotted.split(".")
                owner = modules.get(head)
                try:
                    for part in middle:
                        owner = getattr(owner, part)
                    self._wrap(owner, attr, family, dotted)
                except (AttributeError, ImportError):
                    continue  # not in this version of torch/numpy

    def _wrap(self, owner, attr, family: str, dotted: str) -> None:
        original = getattr(owner, attr)
        watch = self

        def wrapper(*args, **kwargs):
            if watch.active and family in watch.rules:
                watch.deny(family, dotted)
            return original(*args, **kwargs)

        wrapper.__name__ = getattr(original, "__name__", attr)
        wrapper.__doc__ = getattr(original, "__doc__", None)
        setattr(owner, attr, wrapper)

    def deny(self, family: str, what: str) -> None:
        self.found.add(f"{family}: {what}")
        label = self.bans.get(family, {}).get("label", family)
        raise ForbiddenOperation(f"{label} is not allowed in {self.function} ({what})")

    def scope(self, rules, function: str) -> Watch:
        self.rules, self.function = frozenset(rules or ()), function
        return self

    def __enter__(self):
        self.found.clear()
        self._switch.update(armed=False, flipped=False)
        self.active = True
        self._switch["armed"] = True
        self.armed = (self.rules, self.function)
        self.mode = self.mode_class()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        switch = self._switch
        flipped, switch["armed"] = switch["flipped"], False
        if flipped or self.active is not True or (self.rules, self.function) != self.armed:
            self.found.add("tampering: the guard was switched off during the call")
        self.active = False
        try:
            self.mode.__exit__(*exc)
        except Exception:  # the student may have popped the mode already
            self.found.add("tampering: the operator watch was removed")
        return False

    def seen(self) -> list[str]:
        return sorted(self.found)

    # ---------------------------------------------------------- checks from trusted code

    def autograd_left(self, objects, depth: int = 0, seen: set | None = None) -> list[str]:
        """Autograd state in what the student returned or kept: tensors that require grad
        or carry a grad_fn, functorch-wrapped tensors, autograd or functorch closures
        (a vjp pullback kept in a cache), a functorch level left open."""
        torch = self.torch
        seen = set() if seen is None else seen
        found: list[str] = []
        if depth == 0 and torch._C._functorch.maybe_current_level() is not None:
            found.append("autograd: a torch.func transform is still active")
        if depth > 6 or id(objects) in seen:
            return found
        seen.add(id(objects))
        obj = objects
        if isinstance(obj, torch.Tensor):
            if obj.requires_grad or obj.grad_fn is not None:
                found.append("autograd: a tensor with a gradient graph was returned or kept")
            elif torch._C._functorch.is_functorch_wrapped_tensor(obj):
                found.append("autograd: a torch.func tensor was returned or kept")
            return found
        children: list = []
        if isinstance(obj, (list, tuple, set, frozenset)):
            children = list(obj)
        elif isinstance(obj, dict):
            children = list(obj.values())
        elif callable(obj) and not isinstance(obj, type):
            module = getattr(obj, "__module__", "") or ""
            if module.startswith(("torch._functorch", "torch.autograd", "functorch",
                                  "torch.func")):
                found.append(f"autograd: an autograd function ({module}) was returned or kept")
            children = [c.cell_contents for c in (getattr(obj, "__closure__", None) or ())
                        if _filled(c)]
            children += list(getattr(obj, "args", ()) or ()) if hasattr(obj, "func") else []
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            children = list(vars(obj).values())
        if hasattr(obj, "__slots__") and not isinstance(obj, type):
            children += [getattr(obj, s) for s in obj.__slots__ if hasattr(obj, s)]
        for child in children[:200]:
            found += self.autograd_left(child, depth + 1, seen)
        return list(dict.fromkeys(found))

    def probe(self) -> str | None:
        """Run a banned operator under the guard: None when it was denied and recorded,
        else what is wrong."""
        torch = self.torch
        if type(self).deny is not _DENY or type(self).__enter__ is not _ENTER \
                or type(self).seen is not _SEEN or "deny" in vars(self) \
                or "seen" in vars(self) or type(self.found) is not set:
            return "the guard's methods were replaced"
        saved = (self.rules, self.function, set(self.found))
        try:
            with self.scope(("convolution",), "the guard probe"):
                x = torch.ones(1, 1, 2, 2)
                torch.ops.aten.convolution(x, x, None, [1, 1], [0, 0], [1, 1], False,
                                           [0, 0], 1)
            return "a banned operator ran under the guard"
        except ForbiddenOperation:
            ok = "convolution: aten::convolution" in self.found
            return None if ok else "the guard did not record a banned operator"
        except BaseException as exc:
            return f"the probe failed ({type(exc).__name__})"
        finally:
            self.rules, self.function = saved[0], saved[1]
            self.found.clear()
            self.found.update(saved[2])
            self.active = False


def _filled(cell) -> bool:
    try:
        return cell.cell_contents is cell or True
    except ValueError:
        return False


_DENY, _ENTER, _SEEN = Watch.deny, Watch.__enter__, Watch.seen
