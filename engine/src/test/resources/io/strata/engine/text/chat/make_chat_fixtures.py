#!/usr/bin/env python3
"""Reference renderings for the engine's chat-template tests, made with real Jinja2.

    python3 make_chat_fixtures.py        # writes expected.json next to this file (needs Jinja2 3.x)

The environment is the one Hugging Face transformers builds for apply_chat_template: an
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension, a
`generation` block, `tojson` as json.dumps(ensure_ascii=False, ...), and the globals raise_exception
and strftime_now (here at a fixed instant). Two sets of cases:

  conformance: small templates, one Jinja construct each, rendered with given variables
  chat:        the real chat templates in this folder (*.jinja), rendered for conversations
  more:        more real templates (more/*.jinja, as llama.cpp's models/templates holds them: Phi-3.5, Gemma 2,
               DeepSeek-R1 distill, Hermes 3, Qwen3, Qwen3-Coder, Mistral Nemo, gpt-oss, functionary, Granite,
               SmolLM3, Hunyuan), rendered for a few conversations, with tools and tool calls

A case's expected result is the rendered text, or the fact that Jinja2 raised (with its message).
"""
import json
import os
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


class Generation(Extension):
    """{% generation %} ... {% endgeneration %}: renders its body (transformers' AssistantTracker does the same)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


# a fixed "now" so that templates that print today's date (Granite, gpt-oss) give stable expectations; the Java
# tests render with the same instant (2026-11-21T10:30:00)
NOW = datetime(2026, 11, 21, 10, 30, 0)


def strftime_now(fmt):
    return NOW.strftime(fmt)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=[Generation, jinja2.ext.loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
ENV.globals["strftime_now"] = strftime_now


def render(template, variables):
    try:
        return {"output": ENV.from_string(template).render(**variables)}
    except Exception as e:  # noqa: BLE001 - any Jinja2 failure is an expected outcome
        return {"error": type(e).__name__, "message": str(e)}


MSGS = [{"role": "user", "content": "Hi"}]
CONFORMANCE = [
    # whitespace control, trim_blocks, lstrip_blocks, comments
    ("text only", "Hello\nworld\n", {}),
    ("trailing newline kept once", "a\n\n", {}),
    ("crlf", "a\r\nb\rc", {}),
    ("trim blocks", "{% if true %}\nyes\n{% endif %}\nend", {}),
    ("lstrip blocks", "  {% if true %}\n    x\n  {% endif %}\nend\n", {}),
    ("lstrip after text on line", "a {% if true %}b{% endif %} c", {}),
    ("minus both sides", "a  {%- if true -%}  b  {%- endif -%}  c", {}),
    ("minus on output", "a \n {{- 'x' -}} \n b", {}),
    ("plus keeps", "  {%+ if true %}x{% endif +%}\ny", {}),
    ("comment", "a {# note #} b\n  {# own line #}\nc", {}),
    ("comment minus", "a  {#- note -#}  b", {}),
    ("output no trim", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("tabs lstrip", "\t\t{% if true %}\n\tx\n\t{% endif %}", {}),
    ("line starting after output", "{{ 'a' }}  {% if true %}b{% endif %}", {}),
    # literals, str() and repr()
    ("none and bools", "{{ none }} {{ None }} {{ true }} {{ False }}", {}),
    ("numbers", "{{ 1 }} {{ 1.0 }} {{ 1.5e-7 }} {{ 1e16 }} {{ 1e15 }} {{ 0.1 + 0.2 }} {{ 100000.0 }} {{ -0.0 }} {{ 1_000 }}", {}),
    ("list repr", "{{ [1, 'a', none, true, 1.5, [2]] }}", {}),
    ("dict repr", "{{ {'a': 1, 'b': 'x'} }}", {}),
    ("tuple repr", "{{ (1, 2) }} {{ (1,) }} {{ () }}", {}),
    ("string repr quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'a\\nb\\\\c'] }}", {}),
    ("string escapes", "{{ 'a\\tb' }}|{{ \"q\\\"q\" }}|{{ 'x\\u00e9y' }}|{{ 'p' 'q' }}", {}),
    ("undefined prints empty", "[{{ nothing }}]", {}),
    # operators
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 / 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 4 / 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** -1 }}", {}),
    ("string ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 'x' ~ 1 ~ none ~ true }}", {}),
    ("list ops", "{{ [1] + [2, 3] }} {{ [0] * 3 }}", {}),
    ("comparisons", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1,2] == [1,2] }} {{ (1,2) == [1,2] }} {{ none == none }}", {}),
    ("in", "{{ 'a' in 'cat' }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'cat' }} {{ 1 not in [1] }}", {}),
    ("and or values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or none }} {{ not 0 }}", {}),
    ("ternary", "{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}] {{ 'a' if false else 'b' if true else 'c' }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 * 3 ~ 4 }} {{ not 1 == 2 }} {{ 'ab' ~ 'c' | upper }}", {}),
    ("concat binds tighter than plus", "{{ 2 + 3 ~ 4 }}", {}),
    ("filter binds tighter than plus", "{{ 'x' + '  y  ' | trim + 'z' }}", {}),
    # variables and attribute access
    ("dict access", "{{ m['role'] }} {{ m.role }} {{ m.missing is defined }} {{ m['missing'] is defined }}", {"m": {"role": "user"}}),
    ("list index", "{{ xs[0] }} {{ xs[-1] }} {{ xs[5] is defined }} {{ xs.0 }}", {"xs": [1, 2, 3]}),
    ("slices", "{{ xs[1:] }} {{ xs[:2] }} {{ xs[::-1] }} {{ xs[-2:] }} {{ xs[5:] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[:-1] }}", {"xs": [1, 2, 3]}),
    ("string index", "{{ 'abc'[0] }}{{ 'abc'[-1] }}", {}),
    ("attr on string is undefined", "{{ 'abc'.content is defined }}", {}),
    ("undefined attribute error", "{{ nothing.field }}", {}),
    ("undefined item error", "{{ nothing['field'] }}", {}),
    ("undefined is not none", "{{ nothing is none }} {{ nothing is not none }} {{ none is none }}", {}),
    # set and scopes
    ("set", "{% set x = 1 %}{% set y = x + 1 %}{{ y }}", {}),
    ("set tuple", "{% set a, b = [1, 2] %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}", {}),
    ("set block", "{% set x %}inner {{ 1 + 1 }}{% endset %}[{{ x }}]", {}),
    ("set in if leaks", "{% if true %}{% set y = 3 %}{% endif %}{{ y }}", {}),
    ("set in loop does not leak", "{% set x = 5 %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}|{{ x }}", {}),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", {}),
    ("namespace empty", "{% set ns = namespace() %}{% set ns.found = true %}{{ ns.found }}", {}),
    ("messages reassigned", "{% set messages = messages[1:] %}{{ messages | length }}", {"messages": [{"role": "system"}, {"role": "user"}]}),
    # loops
    ("for loop vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("for else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("for filter", "{% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.index }}{{ loop.last }} {% endfor %}", {}),
    ("for dict", "{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}", {}),
    ("for items", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", {}),
    ("for items filter", "{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}", {}),
    ("for prev next", "{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", {}),
    ("loop cycle", "{% for x in [1,2,3] %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("break continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("nested loops", "{% for a in [1,2] %}{% for b in [3,4] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("range", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(5, 0, -2) | list }}", {}),
    # filters
    ("trim", "[{{ '  a b \n' | trim }}] [{{ 'xxaxx' | trim('x') }}]", {}),
    ("length", "{{ 'héllo' | length }} {{ [1,2] | length }} {{ {'a': 1} | length }} {{ [] | count }}", {}),
    ("tojson", "{{ x | tojson }}", {"x": {"a": [1, 2.5, None, True, "é\n\"<>&'"], "b": {}, "c": []}}),
    ("tojson indent", "{{ x | tojson(indent=4) }}", {"x": {"name": "f", "parameters": {"type": "object", "required": ["a"], "properties": {}}}}),
    ("tojson options", "{{ x | tojson(separators=(',', ':')) }} {{ x | tojson(sort_keys=true) }} {{ 'é' | tojson(ensure_ascii=true) }}", {"x": {"b": 1, "a": [1, 2]}}),
    ("tojson scalars", "{{ 1 | tojson }} {{ 1.0 | tojson }} {{ 'a\\tb' | tojson }} {{ none | tojson }} {{ [] | tojson }}", {}),
    ("default", "{{ nothing | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }} {{ nothing | d('z') }}", {}),
    ("first last", "{{ [1,2,3] | first }} {{ [1,2,3] | last }} {{ 'abc' | first }}", {}),
    ("join", "{{ [1, 2, 3] | join(', ') }} {{ ['a','b'] | join }} {{ users | join(', ', attribute='name') }}", {"users": [{"name": "a"}, {"name": "b"}]}),
    ("case filters", "{{ 'hello world' | upper }} {{ 'HeLLo' | lower }} {{ 'hello wORLD' | title }} {{ 'hello World' | capitalize }}", {}),
    ("replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }}", {}),
    ("list filter", "{{ 'abc' | list }} {{ {'a': 1} | list }}", {}),
    ("selectattr", "{{ msgs | selectattr('role', 'equalto', 'user') | list | length }} {{ msgs | rejectattr('role', 'equalto', 'user') | map(attribute='role') | list }}", {"msgs": [{"role": "system"}, {"role": "user"}, {"role": "user"}]}),
    ("selectattr truthy", "{{ msgs | selectattr('tool_calls') | list | length }}", {"msgs": [{"role": "a", "tool_calls": [1]}, {"role": "b"}, {"role": "c", "tool_calls": []}]}),
    ("select reject", "{{ [1, 2, 3, 4] | select('odd') | list }} {{ ['a', 'code', 'b'] | reject('equalto', 'code') | list }} {{ [0, 1, ''] | select | list }}", {}),
    ("map filter", "{{ ['a', 'b'] | map('upper') | join }} {{ [{'x': 1}, {}] | map(attribute='x', default=0) | list }}", {}),
    ("string int float", "{{ 1 | string }} {{ '42' | int + 1 }} {{ 'x' | int }} {{ '1.5' | float }} {{ 3 | float }}", {}),
    ("abs round", "{{ -3 | abs }} {{ 2.5 | round }} {{ 3.14159 | round(2) }} {{ 2.7 | round(0, 'floor') }}", {}),
    ("reverse sort unique", "{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ 'abc' | reverse }} {{ [1, 2] | reverse | list }} {{ [1, 1, 2] | unique | list }}", {}),
    ("min max sum", "{{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ [1, 2, 3] | sum }}", {}),
    ("indent", "{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent(2, blank=true) }}", {}),
    ("dictsort", "{{ {'b': 1, 'a': 2} | dictsort }}", {}),
    ("safe and string on strings", "{{ '<b>' | safe }} {{ '<b>' | string }}", {}),
    ("markup escapes what joins it", "{{ 'a<'|safe + '<b>' }} {{ '<x>'|e }} {{ ('<' | safe) ~ '>' ~ 1 }} {{ '<'|e|e }} {{ ('x'|safe) is string }} {{ ('x'|safe) == 'x' }} {{ 'q\"&'|escape }} {{ '<' + '>'|safe }}", {}),
    # tests
    ("tests", "{{ 'a' is string }} {{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ none is none }} {{ 1 is sameas 1 }} {{ true is true }} {{ 1 is true }}", {}),
    ("test with argument", "{{ 'a' is equalto 'a' }} {{ 2 is gt 1 }} {{ 1 is in [1, 2] }} {{ 1 is ne 2 }}", {}),
    ("is not", "{{ 1 is not string }} {{ x is not defined }} {{ not x is defined }}", {}),
    # methods
    ("string methods", "{{ '  a b  '.strip() }}|{{ 'xxax'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aB'.upper() }}{{ 'aB'.lower() }}|{{ 'hello world'.title() }}", {}),
    ("split", "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}", {}),
    ("replace method", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }}", {}),
    ("find count join", "{{ 'hello'.find('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }} {{ ', '.join(['a', 'b']) }}", {}),
    ("dict methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('z', 9) }} {{ d.get('z') }}", {"d": {"a": 1, "b": 2}}),
    ("dict method beats key", "{{ d.items() | list }}", {"d": {"items": 1}}),
    # macros
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}", {}),
    ("macro sees globals", "{% macro m() %}{{ bos_token }}{% endmacro %}{{ m() }}", {"bos_token": "<s>"}),
    # generation block
    ("generation", "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}", {"messages": MSGS}),
    # errors
    ("raise_exception", "{{ raise_exception('bad input') }}", {}),
    ("raise in branch not taken", "{% if false %}{{ raise_exception('no') }}{% endif %}ok", {}),
    ("call undefined", "{{ nothing() }}", {}),
    ("add str and int", "{{ 'a' + 1 }}", {}),
    ("add undefined", "{{ nothing + 1 }}", {}),
    ("division by zero", "{{ 1 / 0 }}", {}),
    ("unknown filter", "{{ 'a' | frobnicate }}", {}),
    ("unknown test", "{{ 'a' is frobnicated }}", {}),
    ("tojson undefined", "{{ nothing | tojson }}", {}),
    ("unclosed if", "{% if true %}x", {}),
    ("raw unsupported", "{% raw %}{{ x }}{% endraw %}", {}),
    ("include unsupported", "{% include 'x.html' %}", {}),
]

# the conversations the real templates are rendered for (no tools unless said)
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "What is the capital of France?"}
A1 = {"role": "assistant", "content": "The capital of France is Paris."}
U2 = {"role": "user", "content": "And of Germany?"}
SPACED = {"role": "user", "content": "  \n Leading and trailing whitespace \n\n "}
UNICODE = {"role": "user", "content": "Ünïcödé ✓ 日本語 🦙 \"quotes\" 'single' <tags> & {braces} {{ not a tag }}"}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string", "description": "City name"}},
                                                          "required": ["city"]}}}]
CONVERSATIONS = [
    ("user only", [U1], True, {}),
    ("system and user", [SYSTEM, U1], True, {}),
    ("multi-turn", [SYSTEM, U1, A1, U2], True, {}),
    ("multi-turn no system", [U1, A1, U2], True, {}),
    ("no generation prompt", [U1, A1], False, {}),
    ("whitespace content", [SYSTEM, SPACED], True, {}),
    ("unicode and braces", [UNICODE], True, {}),
    ("empty content", [{"role": "user", "content": ""}], True, {}),
    ("roles out of order", [A1, U1], True, {}),
    ("with tools", [SYSTEM, U1], True, {"tools": TOOLS}),
]
TEMPLATES = {
    "llama-3-8b-instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama-3.1-8b-instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama-3.2-3b-instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5-7b-instruct.jinja": (None, "<|im_end|>"),
    "mistral-7b-instruct-v0.3.jinja": ("<s>", "</s>"),
}
TOOL_CALL = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temp\": 21}"}
MORE_CONVERSATIONS = [
    ("user only", [U1], True, {}),
    ("multi-turn", [SYSTEM, U1, A1, U2], True, {}),
    ("whitespace and unicode", [{"role": "system", "content": "  spaced system \n"}, UNICODE], True, {}),
    ("tools", [U1], True, {"tools": TOOLS}),
    ("tool call and result", [U1, TOOL_CALL, TOOL_RESULT], True, {"tools": TOOLS}),
    ("no generation prompt", [U1, A1], False, {}),
]

# llama.cpp's fallback when a model has no template (ChatML), written as a template
CHATML = ("{%- for message in messages -%}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
          "{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}")


def main():
    out = {"generator": "engine/src/test/resources/io/strata/engine/text/chat/make_chat_fixtures.py",
           "jinja2": jinja2.__version__, "conformance": [], "chat": [], "more": []}
    for name, template, variables in CONFORMANCE:
        out["conformance"].append({"name": name, "template": template, "vars": variables, **render(template, variables)})
    for file, (bos, eos) in list(TEMPLATES.items()) + [("chatml", (None, None))]:
        source = CHATML if file == "chatml" else open(os.path.join(HERE, file), encoding="utf-8").read()
        for name, messages, gen, extra in CONVERSATIONS:
            variables = {"messages": messages, "add_generation_prompt": gen, "bos_token": bos or "",
                         "eos_token": eos or "", "date_string": "21 Nov 2026", **extra}
            out["chat"].append({"template": file, "name": name, "vars": variables, **render(source, variables)})
    for file in sorted(os.listdir(os.path.join(HERE, "more"))):
        source = open(os.path.join(HERE, "more", file), encoding="utf-8").read()
        for name, messages, gen, extra in MORE_CONVERSATIONS:
            variables = {"messages": messages, "add_generation_prompt": gen, "bos_token": "<s>", "eos_token": "</s>",
                         "date_string": "21 Nov 2026", **extra}
            out["more"].append({"template": "more/" + file, "name": name, "vars": variables, **render(source, variables)})
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum("error" in c for c in out["conformance"] + out["chat"] + out["more"])
    print(f"{len(out['conformance'])} conformance cases, {len(out['chat'])} chat cases, {len(out['more'])} more, "
          f"{errors} expected errors")


if __name__ == "__main__":
    main()
