"""Secrets in a source project: the names that hold them, and keys written literally into code.

Every importer asks two questions. Is this environment variable (or parameter, keyword, dict key) a
secret, so that fal gets only its *name* in ``secrets``? And does the code contain a literal API key,
which must never reach the output, the report or an image? Names are matched exactly and by suffix
(``HF_TOKEN``, ``*_API_KEY``), never by substring: ``TOKENIZER_NAME`` and ``MAX_TOKENS`` are settings,
``EOS_TOKEN`` is a tokenizer's. Literal keys are recognised by the prefixes their issuers use (``hf_``,
``sk-``, ``AKIA``, ``ghp_`` …) and, for a string bound to a secret-named variable, by looking random.
``redact_module`` replaces each one by a read of the fal secret of that name (``os.environ.get("HF_TOKEN",
"")``) under a TODO marker; a ``LiteralSecret`` says where and what kind, never the value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.spec import Finding, Location

# Shared rule id (FM001–FM099 range): a literal key found in code and replaced by a secret read.
LITERAL_SECRET_RULE = "FM020"

_EXACT = frozenset({
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "HUGGINGFACEHUB_API_TOKEN", "HF_API_TOKEN",
    "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
    "GITHUB_TOKEN", "GH_TOKEN", "WANDB_API_KEY", "REPLICATE_API_TOKEN", "RUNPOD_API_KEY", "FAL_KEY",
    "FAL_KEY_ID", "FAL_KEY_SECRET", "CIVITAI_TOKEN", "DATABASE_URL", "API_KEY", "APIKEY", "TOKEN", "SECRET",
    "SECRET_KEY", "PASSWORD", "PASSWD", "ACCESS_TOKEN", "AUTH_TOKEN", "BEARER_TOKEN", "AUTHORIZATION",
    "PRIVATE_KEY", "CLIENT_SECRET",
})
_SUFFIXES = ("_TOKEN", "_API_KEY", "_APIKEY", "_SECRET", "_SECRET_KEY", "_PASSWORD", "_PASSWD",
             "_PRIVATE_KEY", "_ACCESS_KEY", "_ACCESS_KEY_ID", "_CONNECTION_STRING")
# "<word>_TOKEN" names that are a tokenizer's special tokens, not credentials.
_TOKENIZER_WORDS = frozenset({"PAD", "EOS", "BOS", "UNK", "SEP", "CLS", "MASK", "START", "END", "STOP", "EOT",
                              "SPECIAL", "IMAGE", "AUDIO", "VIDEO", "SYSTEM", "USER", "ASSISTANT", "NEWLINE"})
# Names too generic to be the fal secret's name when a key's issuer gives a better one.
_GENERIC = frozenset({"API_KEY", "APIKEY", "TOKEN", "SECRET", "SECRET_KEY", "PASSWORD", "PASSWD",
                      "ACCESS_TOKEN",
                      "AUTH_TOKEN", "BEARER_TOKEN", "AUTHORIZATION", "KEY", "PRIVATE_KEY", "CLIENT_SECRET"})


@dataclass(frozen=True)
class KeyKind:
    """A kind of credential: what to call it, the fal secret it becomes, and how it looks."""

    label: str
    env: str
    pattern: re.Pattern[str]


def _kind(label: str, env: str, pattern: str) -> KeyKind:
    return KeyKind(label, env, re.compile(rf"(?<![A-Za-z0-9_\-]){pattern}"))


# Checked in order (the Anthropic prefix also starts with "sk-").
KEY_KINDS: tuple[KeyKind, ...] = (
    _kind("Hugging Face token", "HF_TOKEN", r"hf_[A-Za-z0-9]{30,}"),
    _kind("Anthropic API key", "ANTHROPIC_API_KEY", r"sk-ant-[A-Za-z0-9_\-]{20,}"),
    _kind("OpenAI API key", "OPENAI_API_KEY", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    _kind("Stripe secret key", "STRIPE_SECRET_KEY", r"[sr]k_live_[A-Za-z0-9]{20,}"),
    _kind("AWS access key id", "AWS_ACCESS_KEY_ID", r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])"),
    _kind("GitHub token", "GITHUB_TOKEN", r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    _kind("GitLab token", "GITLAB_TOKEN", r"glpat-[A-Za-z0-9_\-]{20,}"),
    _kind("Slack token", "SLACK_TOKEN", r"xox[abprs]-[A-Za-z0-9\-]{10,}"),
    _kind("Replicate API token", "REPLICATE_API_TOKEN", r"r8_[A-Za-z0-9]{30,}"),
    _kind("RunPod API key", "RUNPOD_API_KEY", r"rpa_[A-Za-z0-9]{30,}"),
    _kind("Google API key", "GOOGLE_API_KEY", r"AIza[0-9A-Za-z_\-]{35}"),
    _kind("fal key", "FAL_KEY", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9a-f]{32}"),
    _kind("private key", "PRIVATE_KEY", r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
)
_PLACEHOLDER_WORDS = ("xxxx", "your", "example", "placeholder", "changeme", "dummy", "<", "...",
                      "****", "redacted")


def secret_reason(name: str) -> str | None:
    """Why ``name`` (an environment variable, parameter, keyword or key) holds a secret, or None."""
    upper = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
    if upper in _EXACT:
        return "a well-known secret name"
    for suffix in _SUFFIXES:
        if upper.endswith(suffix) and len(upper) > len(suffix):
            if suffix == "_TOKEN" and upper[: -len(suffix)].rsplit("_", 1)[-1] in _TOKENIZER_WORDS:
                return None
            return f"ends with {suffix}"
    return None


def is_secret_name(name: str) -> bool:
    return secret_reason(name) is not None


def is_placeholder(value: str) -> bool:
    """A value that stands in for a key (``YOUR_KEY``, ``xxxx…``, ``EMPTY``) rather than being one."""
    lower = value.lower()
    return any(word in lower for word in _PLACEHOLDER_WORDS) or len(set(value)) < 6


def looks_random(value: str) -> bool:
    """A string that reads like generated key material: long, no spaces, mixed classes, high entropy."""
    if len(value) < 16 or any(ch.isspace() for ch in value) or is_placeholder(value):
        return False
    classes = sum(any(test(ch) for ch in value) for test in (str.islower, str.isupper, str.isdigit))
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return classes >= 2 and entropy >= 3.5


def key_match(value: str) -> tuple[KeyKind, re.Match[str]] | None:
    """The first well-known key format found in ``value`` (placeholders like ``hf_xxxx…`` excluded)."""
    for kind in KEY_KINDS:
        match = kind.pattern.search(value)
        if match and not is_placeholder(match.group(0)):
            return kind, match
    return None


def secret_env_name(name: str | None, kind: KeyKind | None) -> str:
    """The fal secret a literal becomes: the variable's own name unless it is generic, else the issuer's."""
    upper = re.sub(r"[^A-Z0-9]+", "_", (name or "").upper()).strip("_")
    if upper and is_secret_name(upper) and (kind is None or upper not in _GENERIC):
        return upper
    return kind.env if kind is not None else (upper or "SECRET")


@dataclass(frozen=True)
class LiteralSecret:
    """A key found written into code. Deliberately no value: only what it is, where, and its new name."""

    file: str
    line: int
    kind: str  # "Hugging Face token", "high-entropy value of API_KEY", …
    secret: str  # the fal secret the code now reads
    bound_to: str | None = None  # the variable, keyword or key it was bound to


def literal_finding(found: LiteralSecret) -> Finding:
    where = f" ({found.bound_to})" if found.bound_to else ""
    return Finding(
        rule=LITERAL_SECRET_RULE, severity="error", location=Location(file=found.file, line=found.line),
        message=f"a literal {found.kind}{where} is written in the code; the generated code "
                f"reads the fal secret {found.secret} instead (the value is not copied anywhere)",
        remediation=f"revoke the key (it is in the source history), then `fal secrets set {found.secret}=…`")


_ENV_READS = {"os.getenv": "get", "getenv": "get", "os.environ.get": "get", "environ.get": "get",
              "os.environ.setdefault": "set", "environ.setdefault": "set", "os.putenv": "set"}


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""


def _text(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _target_name(target: cst.BaseExpression) -> str | None:
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Attribute):
        return target.attr.value
    if (isinstance(target, cst.Subscript) and len(target.slice) == 1
            and isinstance(target.slice[0].slice, cst.Index)):
        return _text(target.slice[0].slice.value)
    return None


class _Contexts(cst.CSTVisitor):
    """The name each string literal is bound to (assignment target, parameter, keyword, dict key, the
    variable of an environment read), and which literals are defaults of an environment *read*."""

    def __init__(self) -> None:
        self.names: dict[cst.CSTNode, str] = {}
        self.read_defaults: set[cst.CSTNode] = set()

    def _bind(self, value: cst.BaseExpression | None, name: str | None) -> None:
        if name and isinstance(value, cst.SimpleString):
            self.names[value] = name

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(node.value, _target_name(target.target))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.value, _target_name(node.target))

    def visit_Param(self, node: cst.Param) -> None:
        self._bind(node.default, node.name.value)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._bind(node.value, node.keyword.value)

    def visit_DictElement(self, node: cst.DictElement) -> None:
        self._bind(node.value, _text(node.key))

    def visit_Call(self, node: cst.Call) -> None:
        how = _ENV_READS.get(_dotted(node.func))
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        if how is None or len(positional) < 2:
            return
        self._bind(positional[1], _text(positional[0]))
        if how == "get":
            self.read_defaults.add(positional[1])


def _classify(value: str, name: str | None) -> tuple[KeyKind | None, re.Match[str] | None, str] | None:
    """(kind, match within value, label) when ``value`` is a key; None otherwise."""
    found = key_match(value)
    if found is not None:
        return found[0], found[1], found[0].label
    if name is not None and is_secret_name(name) and looks_random(value):
        return None, None, f"high-entropy value of {name}"
    return None


def _env_read(secret: str, quote: str = '"') -> str:
    """A read that never fails at import (fal imports the app to read its OpenAPI when it deploys): an
    unset secret is an empty string, which the key's service refuses when the app calls it."""
    return f"os.environ.get({quote}{secret}{quote}, {quote}{quote})"


def _marker(found: LiteralSecret) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(
        f"# TODO(falmigrate {LITERAL_SECRET_RULE}): a literal {found.kind} was here; read "
        f"from the fal secret {found.secret} (revoke the old key)"))


class _Redactor(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, path: str, contexts: _Contexts) -> None:
        super().__init__()
        self.path = path
        self.contexts = contexts
        self.found: list[LiteralSecret] = []
        self.frames: list[list[LiteralSecret]] = []
        self.dropped: set[cst.CSTNode] = set()
        self.quotes: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            self.frames.append([])
        if isinstance(node, cst.FormattedString):
            self.quotes.append(node.quote)
        return super().on_visit(node)

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> object:
        result = super().on_leave(original, updated)
        if isinstance(original, cst.FormattedString):
            self.quotes.pop()
        if isinstance(original, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            frame = self.frames.pop()
            if frame and isinstance(result, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                markers = [_marker(found) for found in frame]
                return result.with_changes(leading_lines=[*result.leading_lines, *markers])
        return result

    def _record(self, node: cst.CSTNode, label: str, secret: str, name: str | None) -> None:
        found = LiteralSecret(file=self.path, line=self.get_metadata(PositionProvider, node).start.line,
                              kind=label, secret=secret, bound_to=name)
        self.found.append(found)
        if self.frames:
            self.frames[-1].append(found)

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.BaseExpression:
        value = _text(original)
        name = self.contexts.names.get(original)
        verdict = _classify(value, name) if value is not None else None
        if verdict is None:
            return updated
        kind, match, label = verdict
        secret = secret_env_name(name, kind)
        self._record(original, label, secret, name)
        if original in self.contexts.read_defaults:
            self.dropped.add(original)
            return updated
        if match is None or match.group(0) == value:
            return cst.parse_expression(_env_read(secret))
        rest = value[match.end():]
        parts = [repr(value[:match.start()]) if match.start() else "", _env_read(secret),
                 repr(rest) if rest else ""]
        return cst.parse_expression("(" + " + ".join(p for p in parts if p) + ")")

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if any(arg.value in self.dropped for arg in original.args):  # an env read's literal default: drop it
            first = updated.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated.with_changes(args=[first])
        return updated

    def leave_FormattedStringText(self, original: cst.FormattedStringText,
                                  updated: cst.FormattedStringText) -> object:
        found = key_match(original.value)
        if found is None:
            return updated
        kind, match = found
        self._record(original, kind.label, kind.env, None)
        inner = "'" if self.quotes and '"' in self.quotes[-1] else '"'
        read = cst.FormattedStringExpression(expression=cst.parse_expression(_env_read(kind.env, inner)))
        before, after = original.value[:match.start()], original.value[match.end():]
        parts = [*([cst.FormattedStringText(before)] if before else []), read,
                 *([cst.FormattedStringText(after)] if after else [])]
        return cst.FlattenSentinel(parts)


@dataclass(frozen=True)
class Redaction:
    module: cst.Module
    secrets: tuple[LiteralSecret, ...]

    @property
    def changed(self) -> bool:
        return bool(self.secrets)


def redact_module(module: cst.Module, path: str) -> Redaction:
    """``module`` with every literal key replaced by a read of its fal secret (``import os`` added when
    needed), and what was replaced. A module without literal keys comes back unchanged."""
    wrapper = MetadataWrapper(module)
    contexts = _Contexts()
    wrapper.module.visit(contexts)
    redactor = _Redactor(path, contexts)
    redacted = wrapper.visit(redactor)
    if not redactor.found:
        return Redaction(module, ())
    context = CodemodContext()
    AddImportsVisitor.add_needed_import(context, "os")
    redacted = AddImportsVisitor(context).transform_module(redacted)
    return Redaction(redacted, tuple(redactor.found))


def find_literal_secrets(module: cst.Module, path: str) -> list[LiteralSecret]:
    """The literal keys ``redact_module`` would replace (nothing is changed)."""
    return list(redact_module(module, path).secrets)
