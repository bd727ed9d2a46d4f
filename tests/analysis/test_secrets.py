"""Secret detection shared by the importers: names by exact match and suffix (a table), literal keys by
their issuers' prefixes or by looking random when bound to a secret name, and their replacement by a
read of a fal secret that never copies the value."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from falmigrate.analysis.secrets import (
    LITERAL_SECRET_RULE,
    is_secret_name,
    key_match,
    literal_finding,
    looks_random,
    redact_module,
    secret_env_name,
    secret_reason,
)

# Made-up keys in each issuer's format (none of them is real).
HF_KEY = "hf_Qw3rTy7UiOp2AsDfGh5JkLzXcVbNm1Pq8R"
OPENAI_KEY = "sk-proj-T5bN8mQ2wE7rY4uI1oP9aS6dF3gH0jKl"
AWS_ID = "AKIAQ7ZX3N5B2M8K4J6H"
GITHUB_KEY = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
RANDOM_VALUE = "q8Zr2LmN5vXw9TbC3kPj7Hd4"


@pytest.mark.parametrize(("name", "secret"), [
    ("HF_TOKEN", True), ("HUGGING_FACE_HUB_TOKEN", True), ("HUGGINGFACEHUB_API_TOKEN", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("AWS_ACCESS_KEY_ID", True), ("OPENAI_API_KEY", True),
    ("ANTHROPIC_API_KEY", True), ("GITHUB_TOKEN", True), ("WANDB_API_KEY", True), ("RUNPOD_API_KEY", True),
    ("CIVITAI_TOKEN", True), ("MY_SERVICE_TOKEN", True), ("S3_SECRET", True), ("DB_PASSWORD", True),
    ("REDIS_PASSWD", True), ("STRIPE_SECRET_KEY", True), ("SSH_PRIVATE_KEY", True),
    ("BUCKET_ACCESS_KEY", True),
    ("AZURE_STORAGE_CONNECTION_STRING", True), ("DATABASE_URL", True), ("api_key", True), ("hf_token", True),
    ("Authorization", True), ("password", True), ("client-secret", True),
    ("TOKENIZER_NAME", False), ("MAX_TOKENS", False), ("MAX_NEW_TOKENS", False),
    ("TOKENIZERS_PARALLELISM", False),
    ("EOS_TOKEN", False), ("PAD_TOKEN", False), ("DEFAULT_BOS_TOKEN", False), ("IMAGE_TOKEN", False),
    ("HF_TOKEN_PATH", False), ("SECRET_NAME", False), ("CACHE_KEY", False), ("KEY_PREFIX", False),
    ("PASSWORD_MIN_LENGTH", False), ("MODEL_NAME", False), ("HF_HOME", False), ("TOKENS", False),
    ("HF_HUB_ENABLE_HF_TRANSFER", False), ("S3_KEY", False), ("TOKEN_LIMIT", False),
])
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret, secret_reason(name)


def test_reason_names_the_rule() -> None:
    assert secret_reason("HF_TOKEN") == "a well-known secret name"
    assert secret_reason("MY_SERVICE_API_KEY") == "ends with _API_KEY"


@pytest.mark.parametrize(("value", "env"), [
    (HF_KEY, "HF_TOKEN"), (OPENAI_KEY, "OPENAI_API_KEY"),
    ("sk-ant-api03-Zx8Cv7Bn6Mq5Wr4Et3Yu2", "ANTHROPIC_API_KEY"),
    (AWS_ID, "AWS_ACCESS_KEY_ID"), (GITHUB_KEY, "GITHUB_TOKEN"),
    ("r8_Zq4Wx7Ec2Rv5Tb8Yn1Um3Ik6Ol9Pa0Sd2Fg4Hj", "REPLICATE_API_TOKEN"),
    ("xoxb-1234567890-abcdefGHIJ", "SLACK_TOKEN"),
    ("AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "GOOGLE_API_KEY"),
    (f"Bearer {HF_KEY}", "HF_TOKEN"), ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "PRIVATE_KEY"),
])
def test_well_known_key_formats(value: str, env: str) -> None:
    found = key_match(value)
    assert found is not None and found[0].env == env


@pytest.mark.parametrize("value", [
    "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sk-your-openai-key-goes-here-now", "hf_hub_download",
    "desk-lamp-20-watts-and-more", "AKIA", "ghp_short", "mask-token", "huggingface.co/hf_models",
])
def test_not_keys(value: str) -> None:
    assert key_match(value) is None


@pytest.mark.parametrize(("value", "random"), [
    (RANDOM_VALUE, True), ("3f2a9c81b7d44e0f9a6c2b1e8d7f5a30", True), ("YOUR_API_KEY_HERE_PLEASE", False),
    ("changeme-changeme-changeme", False), ("a normal sentence with spaces", False), ("short1A", False),
    ("aaaaaaaaaaaaaaaaaaaaaaaa", False), ("stabilityai/sdxl-turbo", False),
])
def test_looks_random(value: str, random: bool) -> None:
    assert looks_random(value) is random


def test_secret_env_name_prefers_specific_names() -> None:
    kind = key_match(OPENAI_KEY)[0]
    assert secret_env_name("openai_key", kind) == "OPENAI_API_KEY"
    assert secret_env_name("api_key", kind) == "OPENAI_API_KEY"  # generic: the issuer's name is clearer
    assert secret_env_name("MY_OPENAI_TOKEN", kind) == "MY_OPENAI_TOKEN"
    assert secret_env_name("api_key", None) == "API_KEY"


SOURCE = f'''\
"""A worker with keys written into it."""

import requests

HF_TOKEN = "{HF_KEY}"
API_KEY = "{RANDOM_VALUE}"
MAX_TOKENS = "{RANDOM_VALUE}"
MODEL = "stabilityai/sdxl-turbo"
client_key = os.environ.get("OPENAI_API_KEY", "{OPENAI_KEY}")
HEADERS = {{"Authorization": f"Bearer {GITHUB_KEY}"}}
URL = "https://example.com/?key={AWS_ID}&v=2"


def upload(data, api_key="{RANDOM_VALUE}"):
    return requests.post(URL, data=data, headers={{"x-api-key": api_key}})
'''


def test_redaction_replaces_every_key_and_copies_no_value() -> None:
    result = redact_module(cst.parse_module(SOURCE), "handler.py")
    code = result.module.code
    for value in (HF_KEY, OPENAI_KEY, GITHUB_KEY, AWS_ID):
        assert value not in code
    assert code.count(RANDOM_VALUE) == 1  # MAX_TOKENS is a setting, kept as written
    assert 'HF_TOKEN = os.environ.get("HF_TOKEN", "")' in code
    assert 'API_KEY = os.environ.get("API_KEY", "")' in code
    assert 'client_key = os.environ.get("OPENAI_API_KEY")\n' in code  # the literal default is dropped
    assert """f"Bearer {os.environ.get('GITHUB_TOKEN', '')}\"""" in code
    assert ("""URL = ('https://example.com/?key=' + os.environ.get("AWS_ACCESS_KEY_ID", "")"""
            """ + '&v=2')""") in code
    assert 'def upload(data, api_key=os.environ.get("API_KEY", "")):' in code
    assert code.count(f"TODO(falmigrate {LITERAL_SECRET_RULE})") == len(result.secrets) == 6
    assert "import os\n" in code
    compile(code, "handler.py", "exec")
    found = [(s.line, s.secret, s.bound_to) for s in result.secrets]
    assert found == [(5, "HF_TOKEN", "HF_TOKEN"), (6, "API_KEY", "API_KEY"),
                     (9, "OPENAI_API_KEY", "OPENAI_API_KEY"),
                     (10, "GITHUB_TOKEN", None), (11, "AWS_ACCESS_KEY_ID", "URL"), (14, "API_KEY", "api_key")]


def test_findings_name_the_secret_never_the_value() -> None:
    result = redact_module(cst.parse_module(SOURCE), "handler.py")
    findings = [literal_finding(s) for s in result.secrets]
    text = " ".join(f.model_dump_json() for f in findings)
    assert all(f.severity == "error" and f.rule == LITERAL_SECRET_RULE for f in findings)
    assert "fal secrets set HF_TOKEN" in text and str(findings[0].location) == "handler.py:5"
    for value in (HF_KEY, OPENAI_KEY, GITHUB_KEY, AWS_ID, RANDOM_VALUE):
        assert value not in text


def test_no_keys_is_a_no_op_and_twice_is_once() -> None:
    clean = textwrap.dedent('''\
        import os
        TOKEN = os.environ.get("HF_TOKEN", "")
        EOS_TOKEN = "</s>"
        PASSWORD = "changeme"
    ''')
    module = cst.parse_module(clean)
    result = redact_module(module, "x.py")
    assert not result.changed and result.module.code == clean
    once = redact_module(cst.parse_module(SOURCE), "x.py").module
    twice = redact_module(once, "x.py")
    assert not twice.changed and twice.module.code == once.code
