// jinja_test.cpp — the template engine construct by construct, against Python jinja2.
//
// Every expected string in `python_cases` is what Python jinja2 3.1 renders with transformers'
// settings (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its
// tojson/raise_exception/strftime_now), with the variables in `case_variables` and the clock at
// SOURCE_DATE_EPOCH=1768478400. The rest checks errors (message and line:column), the limits,
// the sandbox, and that hostile input fails cleanly.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "chat/jinja/template.h"
#include "chat/jinja/value.h"
#include "owl/chat.h"
#include "owl/error.h"
#include "test_util.h"

namespace owl {
namespace {

using ordered = nlohmann::ordered_json;

#if defined(__OPTIMIZE__)
constexpr bool slow_build = test::address_sanitizer || test::emulated;
#else
constexpr bool slow_build = true;
#endif

const char* const case_variables = R"({
  "d": {"a": 1, "items": 2, "nested": {"x": [10, 20, 30]}}, "s": "héllo", "l": [1, 2, 3, 4, 5],
  "msgs": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]})";

std::string render(const std::string& source, const std::string& variables = "{}", const template_limits& limits = {}) {
  const auto program = jinja::program::compile(source, "t");
  const ordered vars = ordered::parse(variables);
  return program->render(
      [&](jinja::dict_data& d) {
        for (auto it = vars.begin(); it != vars.end(); ++it) d.set(std::string_view(it.key()), jinja::from_json(it.value()));
      },
      limits);
}

// The owl::error message a template produces (parse or render), or "" if it renders.
std::string error_of(const std::string& source, const std::string& variables = "{}", const template_limits& limits = {}) {
  try {
    render(source, variables, limits);
  } catch (const owl::error& e) {
    return e.what();
  }
  return "";
}

struct python_case {
  const char* name;
  const char* source;
  const char* expected;
};

const python_case python_cases[] = {
    {"ws_trim_lstrip",
     "a\n  {% if true %}\n    x\n  {% endif %}\nb",
     "a\n    x\nb"},
    {"ws_minus",
     "{{- ' a ' -}}  \n {{ 'b' }}",
     " a b"},
    {"ws_minus_block",
     "  {%- if true %} x {% endif -%}  \ny",
     " x y"},
    {"ws_plus",
     "{% if true %}\nA{%+ if true %}B{% endif +%}\nC\n  {%+ if true %}D{% endif %}{% endif %}",
     "AB\nC\n  D"},
    {"ws_comments",
     "{# comment #}\nx  {#- c -#}  y\n  {# c #}\nz",
     "xy\nz"},
    {"ws_raw",
     "{% raw %}{{ x }}{% if %}{% endraw %}|  {% raw %}\n{{ y }}\n  {% endraw %}\nq",
     "{{ x }}{% if %}|  \n{{ y }}\nq"},
    {"ws_var_no_lstrip",
     "a\n  {{ 1 }}\n  {{- 2 }}",
     "a\n  12"},
    {"ws_trailing_newline",
     "x\n\n",
     "x\n"},
    {"ws_crlf",
     "a\r\nb\rc{% if true %}\r\nd{% endif %}",
     "a\nb\ncd"},
    {"ws_mid_line",
     "a {% if true %}b{% endif %} c",
     "a b c"},
    {"ws_for_dash",
     "{%- for i in range(3) -%}\n  {{ i }}\n{%- endfor %}",
     "012"},
    {"ws_tab_unicode",
     "\t {% if true %}x{% endif %}\n　{% if true %}y{% endif %}",
     "xy"},
    {"lit_strings",
     "{{ 'a\\tb\\u00e9\\x41\\101\\q' }}|{{ \"it's\" }}|{{ 'ab' \"cd\" }}",
     "a\tbéAA\\q|it's|abcd"},
    {"lit_numbers",
     "{{ 1_000 }} {{ 0x1f }} {{ 0o17 }} {{ 0b101 }} {{ 1.5e3 }} {{ 1e100 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 2.0 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.0001 }} {{ -0.0 }} {{ 123456789.125 }}",
     "1000 31 15 5 1500.0 1e+100 0.30000000000000004 0.3333333333333333 2.0 1e+16 1000000000000000.0 1e-05 0.0001 -0.0 123456789.125"},
    {"lit_consts",
     "{{ true }} {{ True }} {{ none }} {{ None }} {{ false }} {{ False }}",
     "True True None None False False"},
    {"lit_containers",
     "{{ [1, 'a', none, true, 1.5, [2], {'k': 'v'}] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ {'a': 1, 'b': [1, 2], 1: 'x'} }}",
     "[1, 'a', None, True, 1.5, [2], {'k': 'v'}] (1,) (1, 2) () {'a': 1, 'b': [1, 2], 1: 'x'}"},
    {"lit_repr",
     "{{ ['it\\'s', \"q\\\"\", 'é', '\\u200b', '\\x00', 'a\\nb', 'back\\\\slash', \"both'\\\"\"] }}",
     "[\"it's\", 'q\"', 'é', '\\u200b', '\\x00', 'a\\nb', 'back\\\\slash', 'both\\'\"']"},
    {"op_arith",
     "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 10 / 4 }} {{ 10 / 5 }} {{ 1 + true }} {{ 1 + 1.5 }}",
     "3 -4 1 2 -2 3.0 0.5 1024 0.5 2.5 2.0 2 2.5"},
    {"op_seq",
     "{{ 'ab' * 3 }} {{ 3 * 'ab' }} {{ [1] * 3 }} {{ [1] + [2] }} {{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ true ~ 1.0 }} {{ (1, 2) + (3,) }} {{ 'x' * 0 }}|{{ 'x' * -1 }}|",
     "ababab ababab [1, 1, 1] [1, 2] ab a1NoneTrue1.0 (1, 2, 3) ||"},
    {"op_unary_pow",
     "{{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ -(3) }} {{ +3 }} {{ -1|abs }} {{ not 1 == 2 }}",
     "4 64 -3 3 1 True"},
    {"op_compare",
     "{{ 1 < 2 < 3 }} {{ 1 < 2 > 3 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' != 'b' }} {{ none == none }} {{ [1] == (1,) }} {{ {'a': 1} == {'a': 1} }} {{ 2 >= 2.0 }}",
     "True False True True True True True True False True True"},
    {"op_in",
     "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' not in 'abc' }} {{ 1 in (1, 2) }} {{ 'a' in x }}",
     "True True True True True True False"},
    {"op_logic",
     "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or [] }} {{ not 0 }} {{ not [] and 1 }} {{ '' and 1 }}|{{ 0 or 0.0 }}",
     "x y [] True 1 |0.0"},
    {"op_condexpr",
     "{{ 'a' if true else 'b' }} {{ 'a' if false else 'b' }} [{{ 'a' if false }}] {{ 1 if 0 else 2 if 0 else 3 }}",
     "a b [] 3"},
    {"op_precedence",
     "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 'a' ~ (1 + 2) }} {{ (1 + 2) ~ 'a' }} {{ 2 * 3 ~ 'x' }} {{ 10 - 2 - 3 }} {{ 2 ** 2 * 3 }} {{ 100 // 7 % 3 }} {{ 'ab'|upper ~ 'c' }}",
     "7 9 a3 3a 6x 5 12 2 ABc"},
    {"access",
     "{{ d.a }} {{ d['a'] }} {{ d.nested.x[1] }} {{ d.nested.x.1 }} {{ d['items'] }} {{ d.items is callable }} [{{ d.missing }}] {{ d.missing is defined }} {{ d['nested']['x'][-1] }}",
     "1 1 20 20 2 True [] False 30"},
    {"slices",
     "{{ l[1:3] }} {{ l[::2] }} {{ l[::-1] }} {{ l[-2:] }} {{ l[:-3] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[0] }} {{ s[-1] }} {{ l[10] is defined }} {{ l[5:1:-2] }} {{ (1, 2, 3)[1:] }} {{ l[100:] }}",
     "[2, 3] [1, 3, 5] [5, 4, 3, 2, 1] [4, 5] [1, 2] él olléh h o False [5, 3] (2, 3) []"},
    {"access_none",
     "{{ none.x is defined }} {{ 'abc'.upper() }} {{ s|length }} {{ 5.x is defined }} {{ [1][5] is defined }}",
     "False ABC 5 False False"},
    {"if_elif",
     "{% for x in [1, 2, 3, 4, 5] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x is even %}even{% else %}other{% endif %},{% endfor %}",
     "one,two,other,even,other,"},
    {"loop_vars",
     "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.depth }}|{% endfor %}",
     "1032TrueFalse31|2121FalseFalse31|3210FalseTrue31|"},
    {"loop_prev_next",
     "{% for x in [1, 2, 3] %}{{ loop.previtem|default('-') }}{{ x }}{{ loop.nextitem|default('-') }} {% endfor %}",
     "-12 123 23- "},
    {"loop_cycle_changed",
     "{% for x in range(4) %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %} {% for x in [1, 1, 2, 2, 1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}",
     "abca 121"},
    {"for_unpack",
     "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}",
     "a=1;b=2;37123"},
    {"for_if",
     "{% for x in range(10) if x is odd %}{{ x }}{% if not loop.last %},{% endif %}{% endfor %} {% for x in range(10) if x > 6 %}{{ loop.index }}/{{ loop.length }} {% endfor %}",
     "1,3,5,7,9 1/3 2/3 3/3 "},
    {"for_else",
     "{% for x in [] %}{{ x }}{% else %}empty{% endfor %} {% for x in [1] if false %}{% else %}none{% endfor %} {% for x in [1] %}{{ x }}{% else %}no{% endfor %}",
     "empty none 1"},
    {"break_continue",
     "{% for x in range(10) %}{% if x == 5 %}{% break %}{% endif %}{% if x is odd %}{% continue %}{% endif %}{{ x }}{% endfor %}",
     "024"},
    {"nested_loops",
     "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}",
     "1x11y21;2x12y22;"},
    {"iterate_kinds",
     "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %} {% for c in 'hé' %}[{{ c }}]{% endfor %} {% for i in x %}no{% endfor %}",
     "ba [h][é] "},
    {"scope_loop",
     "{% set x = 1 %}{% for i in range(2) %}{{ x }}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}",
     "111,111,1"},
    {"scope_loop_reset",
     "{% for i in range(3) %}{% if i == 0 %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}",
     "[5][][]"},
    {"scope_blocks",
     "{% filter upper %}{% set x = 1 %}{% endfilter %}[{{ x }}]{% set y %}{% set x = 1 %}{% endset %}[{{ x }}]{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}{% set z = 1 %}{% endcall %}[{{ z }}]{% for i in [1, 2] %}{% if loop.first %}{% set a = 5 %}{% endif %}{% endfor %}[{{ a }}]{% set w = 1 %}{% with %}{% set w = 2 %}{% endwith %}{{ w }}",
     "[][][][]1"},
    {"scope_if",
     "{% if true %}{% set y = 2 %}{% endif %}{{ y }}",
     "2"},
    {"namespace",
     "{% set ns = namespace(count=0, found=false) %}{% for i in range(4) %}{% set ns.count = ns.count + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns.missing is defined }}",
     "6 True False"},
    {"namespace_init",
     "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}",
     "121"},
    {"set_tuple",
     "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = 'xy' %}{{ d }}{{ c }}",
     "12yx"},
    {"set_block",
     "{% set x %}Hello {{ 'World' }}{% endset %}[{{ x }}]{% set y | upper | trim %}  abc {% endset %}[{{ y }}]",
     "[Hello World][ABC]"},
    {"macro_basic",
     "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}",
     "Hi A! Hi B? Hi C."},
    {"macro_defaults",
     "{% macro f(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ f(3) }} {% macro g(a, b) %}[{{ a }}][{{ b }}][{{ b is defined }}]{% endmacro %}{{ g(1) }}",
     "3,6 [1][][False]"},
    {"macro_varargs",
     "{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, x=4) }}{{ f(0) }}",
     "1(2, 3){'x': 4}0(){}"},
    {"macro_recursion",
     "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}",
     "120"},
    {"macro_late_binding",
     "{% macro m() %}{{ y }}{% endmacro %}{% set y = 1 %}{{ m() }}{% set y = 2 %}{{ m() }}",
     "12"},
    {"macro_local_set",
     "{% set y = 3 %}{% macro m() %}{{ y }}{% set y = 5 %}{{ y }}{% endmacro %}{{ m() }}{{ y }}",
     "353"},
    {"macro_in_loop",
     "{% for i in range(2) %}{% macro m() %}<{{ i }}>{% endmacro %}{{ m() }}{% endfor %}",
     "<0><1>"},
    {"macro_value",
     "{% macro m() %}x{% endmacro %}{% set r = m() %}{{ r|length }}{{ r ~ r }}{{ m is callable }}",
     "1xxTrue"},
    {"call_block",
     "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}",
     "<b>bold 2</b>"},
    {"call_block_args",
     "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}<{{ x }}>{% endcall %}",
     "<1><2>"},
    {"filter_block",
     "{% filter upper %}hello {{ 'x' }}{% endfilter %}{% filter replace('a', 'b')|upper %}aaa{% endfilter %}",
     "HELLO XBBB"},
    {"with_block",
     "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]",
     "3[]"},
    {"generation_tag",
     "{% generation %}gen{% endgeneration %}",
     "gen"},
    {"print_tag",
     "{% print 'x' %}{% print 1 + 1 %}",
     "x2"},
    {"f_trim",
     "[{{ '  a b  '|trim }}][{{ 'xxaxx'|trim('x') }}][{{ '　a \n'|trim }}][{{ x|trim }}]",
     "[a b][a][a][]"},
    {"f_tojson",
     "{{ {'b': 1, 'a': [1, 2.5, none, true, 'é\"\\n\\t\\u0001']}|tojson }}",
     "{\"b\": 1, \"a\": [1, 2.5, null, true, \"é\\\"\\n\\t\\u0001\"]}"},
    {"f_tojson_indent",
     "{{ [1, {'a': 2, 'b': []}, {}]|tojson(indent=2) }}|{{ {'a': 1}|tojson(indent='\\t') }}",
     "[\n  1,\n  {\n    \"a\": 2,\n    \"b\": []\n  },\n  {}\n]|{\n\t\"a\": 1\n}"},
    {"f_tojson_options",
     "{{ 'é😀'|tojson(true) }} {{ {'a': 1, 'b': 2}|tojson(separators=(',', ':')) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 1.0|tojson }} {{ 'a'|tojson }} {{ (1, 2)|tojson }} {{ {1: 2, none: 3, true: 4}|tojson }}",
     "\"\\u00e9\\ud83d\\ude00\" {\"a\":1,\"b\":2} {\"a\": 2, \"b\": 1} 1.0 \"a\" [1, 2] {\"1\": 4, \"null\": 3}"},
    {"f_length",
     "{{ 'héllo'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ x|length }} {{ range(3)|length }}",
     "5 2 1 0 3"},
    {"f_case",
     "{{ 'hello WORLD'|upper }} {{ 'HeLLo'|lower }} {{ 'hello world-foo (bar) x_y'|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'élan ß'|upper }} {{ 'ÉLAN'|lower }}",
     "HELLO WORLD hello Hello World-Foo (Bar) X_y Hello world ÉLAN SS élan"},
    {"f_replace",
     "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ 123|replace('2', 'x') }}",
     "bbb bba -a-b-c- 1x3"},
    {"f_join",
     "{{ [1, 2, 3]|join(', ') }} {{ ['a', 'b']|join }} {{ [{'n': 'x'}, {'n': 'y'}]|join('-', attribute='n') }} {{ 'abc'|join('.') }}",
     "1, 2, 3 ab x-y a.b.c"},
    {"f_default",
     "{{ x|default('d') }} {{ none|default('d') }} {{ ''|default('d', true) }} {{ 0|d('z', boolean=true) }} {{ 'v'|default('d') }} [{{ x|default }}]",
     "d None d z v []"},
    {"f_first_last",
     "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ 'abc'|last }} {{ []|first is defined }} {{ {'k': 1}|first }}",
     "1 3 a c False k"},
    {"f_list",
     "{{ 'ab'|list }} {{ {'a': 1}|list }} {{ (1, 2)|list }}",
     "['a', 'b'] ['a'] [1, 2]"},
    {"f_map",
     "{{ [{'a': 1}, {'a': 2}]|map(attribute='a')|list }} {{ ['a', 'b']|map('upper')|join }} {{ [{'a': 1}, {}]|map(attribute='a', default=0)|list }} {{ ['1', '2']|map('int')|sum }} {{ [[1, 2]]|map(attribute='1')|list }} {{ ['a,b']|map('replace', ',', ';')|first }}",
     "[1, 2] AB [1, 0] 3 [2] a;b"},
    {"f_select",
     "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', 'a']|select|list }} {{ [1, 5, 10]|select('gt', 3)|list }} {{ ['a', 'b']|select('in', ['b'])|list }} {{ [1, 2]|select('==', 2)|list }}",
     "[1, 3] [2, 4] [1, 'a'] [5, 10] ['b'] [2]"},
    {"f_selectattr",
     "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join }} {{ msgs|rejectattr('role', '==', 'user')|list|length }} {{ msgs|selectattr('content')|list|length }} {{ msgs|selectattr('missing', 'undefined')|list|length }} {{ msgs|selectattr('role', 'in', ['system'])|first }}",
     "u 1 2 2 {'role': 'system', 'content': 's'}"},
    {"generators",
     "{% if []|select %}truthy{% endif %} {% set g = [1, 2]|map('string') %}{{ g|join }}|{{ g|join }}| {{ [3, 4]|select|first }}",
     "truthy 12|| 3"},
    {"f_items",
     "{% for k, v in {'a': 1, 'b': [2]}|items %}{{ k }}{{ v }}{% endfor %}{{ x|items|list }}",
     "a1b[2][]"},
    {"f_string",
     "{{ 1|string ~ 2 }} {{ [1]|string }} {{ none|string }} {{ true|string|length }} {{ 1.50|string }}",
     "12 [1] None 4 1.5"},
    {"f_int_float",
     "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(base=16) }} {{ '0b11'|int(0, 0) }} {{ 3.9|int }} {{ -3.9|int }} {{ true|int }} {{ ' 12 '|int }} {{ '1_000'|int }} {{ '3.5'|float }} {{ 'x'|float }} {{ 2|float }} {{ '1e3'|float }} {{ none|int }} {{ '-7'|int }}",
     "42 4 0 7 26 3 3 -3 1 12 1000 3.5 0.0 2.0 1000.0 0 -7"},
    {"f_abs_round",
     "{{ -3|abs }} {{ (-2.5)|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ 5|round }} {{ 1234.5678|round(-2) }} {{ -0.5|round }}",
     "3 2.5 2.0 4.0 2.67 3.0 2.0 5 1200.0 -0.0"},
    {"f_safe_escape",
     "{{ '<b>'|safe }} {{ '<a href=\"x\">&\\'y'|e }} {{ 5|safe }}",
     "<b> &lt;a href=&#34;x&#34;&gt;&amp;&#39;y 5"},
    {"f_indent",
     "{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}|{{ 'a\nb'|indent('> ') }}|{{ 'a\n'|indent }}|{{ ''|indent(2, true) }}|{{ '\nx'|indent(2, true) }}",
     "a\n    b\n\n    c|  a\n  b|a\n  \n  b|a\n> b|a\n|  |  \n  x"},
    {"f_unique",
     "{{ [1, 2, 1, 3, 2]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }} {{ [1, 1.0, true]|unique|list }} {{ msgs|unique(attribute='role')|list|length }}",
     "[1, 2, 3] ['a', 'b'] ['a', 'A'] [1] 2"},
    {"f_dictsort",
     "{{ {'b': 1, 'a': 2, 'C': 0}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }} {{ {'b': 1, 'a': 2, 'C': 0}|dictsort(true) }}",
     "[('a', 2), ('b', 1), ('C', 0)] [('a', 2), ('b', 1)] [('C', 0), ('a', 2), ('b', 1)]"},
    {"f_sort",
     "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }} {{ [{'n': 2}, {'n': 1}]|sort(attribute='n')|map(attribute='n')|list }} {{ [{'a': 1, 'b': 2}, {'a': 1, 'b': 1}]|sort(attribute='a,b')|map(attribute='b')|list }}",
     "[1, 2, 3] ['A', 'b', 'c'] ['A', 'b', 'c'] [3, 2, 1] [1, 2] [1, 2]"},
    {"f_reverse",
     "{{ 'abé'|reverse }} {{ [1, 2, 3]|reverse|list }} {{ [1, 2]|map('string')|reverse }}",
     "éba [3, 2, 1] ['2', '1']"},
    {"f_batch",
     "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }}",
     "[[1, 2], [3, 4], [5]] [[1, 2], [3, 0]]"},
    {"f_misc",
     "{{ 'hello big_world 42'|wordcount }} [{{ 'ab'|center(7) }}] {{ [1, 2]|attr('count')([1, 2]) }}",
     "3 [   ab  ] 0"},
    {"f_min_max_sum",
     "{{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ ['b', 'A']|min }} {{ ['b', 'A']|max }} {{ [1, 2, 3]|sum }} {{ [{'v': 1}, {'v': 2}]|sum(attribute='v') }} {{ [1.5, 2]|sum(start=1) }} {{ []|max is defined }} {{ msgs|max(attribute='role')|tojson }}",
     "1 3 A b 6 3 4.5 False {\"role\": \"user\", \"content\": \"u\"}"},
    {"printf",
     "{{ '%s-%05.1f|%-4d|%x|%r' % ('a', 3.14159, 7, 255, 'q') }} {{ '%(a)s=%(b)d' % {'a': 'x', 'b': 2.9} }} {{ 'abc' % [1] }} {{ '%s' % [1, 2] }} {{ '%+d %+d % d' % (5, -5, 5) }} {{ '%#x %#o %X %c%c' % (255, 8, 255, 65, 'é') }} {{ '%.3s|%5s|%-5s|' % ('abcdef', 'ab', 'ab') }} {{ '%e %g %G %.2e %%' % (12345.678, 0.00001234, 1e20, -1.5) }} {{ '%s'|format(1) }} {{ '%s and %s'|format('a', 'b') }} {{ '%(x)s'|format(x=3) }} {{ '%05d|%.3d|%5.1f' % (-42, 7, 2.25) }}",
     "a-003.1|7   |ff|'q' x=2 abc [1, 2] +5 -5  5 0xff 0o10 FF Aé abc|   ab|ab   | 1.234568e+04 1.234e-05 1E+20 -1.50e+00 % 1 a and b 3 -0042|007|  2.2"},
    {"tests_types",
     "{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ {} is mapping }} {{ [] is mapping }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ x is sequence }} {{ range is callable }} {{ 'a' is callable }}",
     "False True True True True True True False True True True False True False True True True False"},
    {"tests_values",
     "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 1 is eq 1 }} {{ 1 is equalto 1 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is gt 1 }} {{ 1 is le 1 }} {{ 1 is ge 2 }} {{ none is sameas none }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 2 is in [1, 2] }} {{ 'x' is not in 'abc' }} {{ x is not defined and true }} {{ 'abc' is lower }} {{ 'Abc' is upper }}",
     "True True True False True True True True True True False True True False True True True True True False"},
    {"str_methods",
     "{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} [{{ '  a  '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}] {{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'a b c'.split(none, 1) }} {{ 'a b c '.rsplit(maxsplit=1) }}",
     "True True [a|axx|xxa] ['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b,c'] ['a,b', 'c'] ['a', 'b c'] ['a b', 'c']"},
    {"str_methods2",
     "{{ 'aXbX'.replace('X', '-') }} {{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'banana'.find('an') }} {{ 'banana'.find('x') }} {{ 'banana'.rfind('an') }} {{ 'banana'.count('a') }} {{ '-'.join(['a', 'b']) }} {{ 'héllo'.find('l') }} {{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ ''.isdigit() }} {{ 'ABC'.isupper() }} {{ 'a\nb\r\nc'.splitlines() }} {{ 'x'.center(5, '*') }}",
     "a-b- ABC abc Hello World Hello 1 -1 3 3 a-b 2 True True False True ['a', 'b', 'c'] **x**"},
    {"dict_methods",
     "{% set m = {'a': 1, 'b': 2} %}{{ m.keys()|list }} {{ m.values()|list }} {{ m.items()|list }} {{ m.get('a') }} {{ m.get('zz') }} {{ m.get('zz', 5) }} {{ m.get('b', 5) }}",
     "['a', 'b'] [1, 2] [('a', 1), ('b', 2)] 1 None 5 2"},
    {"list_methods",
     "{% set l2 = [1, 2, 2] %}{{ l2.index(2) }} {{ l2.count(2) }} {{ (1, 1).count(1) }}",
     "1 2 2"},
    {"globals",
     "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b=2) }} {{ namespace(a=1).a }} {{ strftime_now('%Y-%m-%d %H:%M %d %b %Y %B %A') }}",
     "[0, 1, 2] [1, 3, 5] [5, 3, 1] {'a': 1, 'b': 2} 1 2026-01-15 12:00 15 Jan 2026 January Thursday"},
    {"undefined",
     "[{{ x }}][{{ x|string }}][{{ x ~ 'a' }}]{% for i in x %}no{% endfor %}{{ x|length }}{{ x is iterable }}{{ x == x }}{{ x == none }}{{ not x }}",
     "[][][a]0TrueTrueFalseTrue"},
    {"sandbox",
     "[{{ ''.__class__ }}][{{ d.__class__ }}][{{ range.__globals__ }}][{{ {}.update }}]",
     "[][][][]"},
};

TEST(jinja, renders_like_python_jinja2) {
  setenv("SOURCE_DATE_EPOCH", "1768478400", 1);
  for (const auto& c : python_cases) {
    SCOPED_TRACE(c.name);
    std::string out;
    try {
      out = render(c.source, case_variables);
    } catch (const owl::error& e) {
      ADD_FAILURE() << c.name << ": " << e.what();
      continue;
    }
    EXPECT_EQ(out, c.expected) << c.name << ": " << c.source;
  }
}

TEST(jinja, parse_once_render_many) {
  const auto program = jinja::program::compile("{% for x in xs %}{{ x }}{% endfor %}", "t");
  for (int n = 0; n < 3; ++n) {
    const std::string out = program->render(
        [&](jinja::dict_data& d) { d.set("xs", jinja::value::list({jinja::value::integer(n), jinja::value::integer(n)})); },
        {});
    EXPECT_EQ(out, std::to_string(n) + std::to_string(n));
  }
}

// ---- errors: message and position ----

TEST(jinja, syntax_errors_report_line_and_column) {
  EXPECT_EQ(error_of("{% for x in y %}\n{% endif %}"), "t:2:4: unexpected 'endif', expected 'endfor' or 'else'");
  EXPECT_EQ(error_of("a\n{% if x %}b"),
            "t:2:12: unexpected end of template, expected 'elif', 'else' or 'endif' (the 'if' block opened at 2:4 "
            "is not closed)");
  EXPECT_EQ(error_of("{{ 1 + }}"), "t:1:8: unexpected 'end of print statement'");
  EXPECT_EQ(error_of("\n\n  {{ x | nofilter }}"), "t:3:10: no filter named 'nofilter'");
  EXPECT_EQ(error_of("{{ x is notatest }}"), "t:1:9: no test named 'notatest'");
  EXPECT_EQ(error_of("{% foo %}"), "t:1:4: unknown tag 'foo'");
  EXPECT_EQ(error_of("{{ (1 }}"), "t:1:7: unexpected '}', expected ')'");
  EXPECT_EQ(error_of("x {# never closed"), "t:1:3: missing end of comment tag");
  EXPECT_EQ(error_of("{{ 'abc }}"), "t:1:4: unexpected char ''' (unterminated string)");
  EXPECT_EQ(error_of("{% break %}"), "t:1:4: 'break' outside of a for loop");
  EXPECT_EQ(error_of("{{ a b }}"), "t:1:6: expected 'end of print statement', got 'b'");
  EXPECT_EQ(error_of("{% set 1 = 2 %}"), "t:1:8: can't assign to a constant");
  EXPECT_EQ(error_of("{% macro f(a=1, b) %}{% endmacro %}"), "t:1:18: non-default argument follows default argument");
  EXPECT_EQ(error_of("{% include 'x' %}"),
            "t:1:4: 'include' is not supported: chat templates are rendered standalone, without a loader");
  EXPECT_EQ(error_of("{{ x ! y }}"), "t:1:6: unexpected char '!'");
  EXPECT_EQ(error_of("{% raw %}abc"), "t:1:1: missing end of raw directive");
  EXPECT_EQ(error_of("{{ 99999999999999999999 }}"), "t:1:4: integer literal too large (owl's template integers are 64-bit)");
  // Columns count code points, so non-ASCII text before the error does not shift them.
  EXPECT_EQ(error_of("é→{{ x.y }}"), "t:1:7: 'x' is undefined");
}

TEST(jinja, runtime_errors_match_python) {
  EXPECT_EQ(error_of("{{ x.y }}"), "t:1:5: 'x' is undefined");
  EXPECT_EQ(error_of("{{ x + 1 }}"), "t:1:6: 'x' is undefined");
  EXPECT_EQ(error_of("\n  {{ d.missing + 1 }}", R"({"d": {}})"), "t:2:16: 'dict object' has no attribute 'missing'");
  EXPECT_EQ(error_of("{% for m in none %}{% endfor %}"), "t:1:13: 'NoneType' object is not iterable");
  EXPECT_EQ(error_of("{{ 1 / 0 }}"), "t:1:6: division by zero");
  EXPECT_EQ(error_of("{{ 5 // 0 }}"), "t:1:6: integer division or modulo by zero");
  EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "t:1:8: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(error_of("{{ 1 < 'a' }}"), "t:1:6: '<' not supported between instances of 'int' and 'str'");
  EXPECT_EQ(error_of("{{ [1, 'a']|sort }}"), "t:1:13: '<' not supported between instances of 'str' and 'int'");
  EXPECT_EQ(error_of("{{ x|tojson }}"), "t:1:6: Object of type Undefined is not JSON serializable");
  EXPECT_EQ(error_of("{{ [1, 2]|select|length }}"), "t:1:18: object of type 'generator' has no len()");
  EXPECT_EQ(error_of("{{ foo() }}"), "t:1:4: 'foo' is undefined");
  EXPECT_EQ(error_of("{{ 1() }}"), "t:1:4: 'int' object is not callable");
  EXPECT_EQ(error_of("{% set x = 1 %}{% set x.y = 2 %}"), "t:1:23: cannot assign attribute on non-namespace object");
  EXPECT_EQ(error_of("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"), "t:1:34: macro 'm' takes not more than 1 argument(s)");
  EXPECT_EQ(error_of("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}"), "t:1:34: macro 'm' takes no keyword argument 'b'");
  EXPECT_EQ(error_of("{% for a, b in [[1]] %}{% endfor %}"), "t:1:8: not enough values to unpack (expected 2, got 1)");
  EXPECT_EQ(error_of("{{ 'x'.split('') }}"), "t:1:7: empty separator");
  EXPECT_EQ(error_of("{{ raise_exception('System role not supported') }}"), "t:1:4: System role not supported");
  EXPECT_EQ(error_of("{{ 2 ** 64 }}"), "t:1:6: integer overflow (owl's template integers are 64-bit)");
  EXPECT_EQ(error_of("{{ '%s %s' % (1,) }}"), "t:1:12: not enough arguments for format string");
  EXPECT_EQ(error_of("{{ 'a' % 1 }}"), "t:1:8: not all arguments converted during string formatting");
}

// ---- the sandbox ----

TEST(jinja, sandbox_blocks_python_internals_and_mutation_of_dicts) {
  EXPECT_EQ(render("[{{ ''.__class__ }}][{{ range.__globals__ }}]"), "[][]");
  EXPECT_EQ(error_of("{{ ''.__class__.__mro__ }}"), "t:1:16: access to attribute '__class__' of 'str' object is unsafe.");
  EXPECT_EQ(error_of("{% set d = {} %}{{ d.update({'a': 1}) }}"),
            "t:1:21: access to attribute 'update' of 'dict' object is unsafe.");
  EXPECT_EQ(error_of("{{ range(100001)|length }}"),
            "t:1:4: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  // No file, environment or clock access beyond strftime_now: these names are simply undefined.
  EXPECT_EQ(render("[{{ open }}][{{ environ }}][{{ self }}][{{ lipsum }}][{{ config }}]"), "[][][][][]");
}

TEST(jinja, list_append_and_pop_work_on_lists) {
  // transformers' immutable sandbox refuses these; owl allows them for templates written for
  // other runtimes (docs/chat.md).
  EXPECT_EQ(render("{% set ns = namespace(l=[]) %}{% for i in range(3) %}{% set _ = ns.l.append(i * 2) %}{% endfor %}"
                   "{{ ns.l }} {{ ns.l.pop() }} {{ ns.l.pop(0) }} {{ ns.l }}"),
            "[0, 2, 4] 4 0 [2]");
  EXPECT_EQ(error_of("{{ (1, 2).append(3) }}"), "t:1:10: 'tuple object' has no attribute 'append'");
}

TEST(jinja, self_references_print_like_python_and_do_not_leak) {
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"), "<Namespace {'me': <Namespace {...}>}>");
  EXPECT_EQ(render("{% set l = [1] %}{% set _ = l.append(l) %}{{ l }}"), "[1, [...]]");
  EXPECT_EQ(error_of("{% set l = [1] %}{% set _ = l.append(l) %}{{ l|tojson }}"), "t:1:48: Circular reference detected");
}

// ---- limits ----

TEST(jinja, recursion_limit) {
  const std::string forever = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
  EXPECT_EQ(error_of(forever), "t:1:20: macro calls nest deeper than max_recursion_depth (256)");
  template_limits limits;
  limits.max_recursion_depth = 10;
  const std::string ten = "{% macro f(n) %}{% if n < 10 %}{{ f(n + 1) }}{% else %}{{ n }}{% endif %}{% endmacro %}{{ f(1) }}";
  EXPECT_EQ(render(ten, "{}", limits), "10");
  limits.max_recursion_depth = 9;
  EXPECT_NE(error_of(ten, "{}", limits).find("max_recursion_depth (9)"), std::string::npos);
}

TEST(jinja, loop_iteration_limit) {
  const std::string cubic =
      "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}";
  EXPECT_EQ(error_of(cubic), "t:1:30: loops ran more than max_loop_iterations (1000000) iterations");
  template_limits limits;
  limits.max_loop_iterations = 100;
  EXPECT_EQ(render("{% for i in range(100) %}{% endfor %}ok", "{}", limits), "ok");
  EXPECT_NE(error_of("{% for i in range(101) %}{% endfor %}", "{}", limits).find("max_loop_iterations (100)"),
            std::string::npos);
}

TEST(jinja, output_and_text_limits) {
  template_limits limits;
  limits.max_output_bytes = 1 << 20;
  EXPECT_EQ(error_of("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "{}", limits),
            "t:1:29: the output exceeds max_output_bytes (1048576)");
  EXPECT_EQ(error_of("{{ 'x' * 100000000 }}"), "t:1:8: a string would exceed max_output_bytes (16777216 bytes)");
  EXPECT_NE(error_of("{{ ([1] * 100000000)|length }}").find("strings and lists in total"), std::string::npos);
  // A doubling loop stops at the first string over the limit, not after exhausting memory.
  EXPECT_NE(error_of("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                .find("max_output_bytes"),
            std::string::npos);
  // Building and discarding large strings is bounded too (16 x max_output_bytes in total).
  EXPECT_NE(error_of("{% for i in range(100000) %}{% set s = 'x' * 1000000 %}{% endfor %}").find("in total"),
            std::string::npos);
}

TEST(jinja, deep_nesting_fails_cleanly) {
  const std::string parens(300, '(');
  EXPECT_NE(error_of("{{ " + parens + "1" + std::string(300, ')') + " }}").find("nests too deeply"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 300; ++i) ifs += "{% if true %}";
  EXPECT_NE(error_of(ifs).find("nests too deeply"), std::string::npos);
  std::string sum = "{{ 1";
  for (int i = 0; i < 300; ++i) sum += " + 1";
  EXPECT_NE(error_of(sum + " }}").find("nests too deeply"), std::string::npos);
  // Values nested 100000 deep (built by a loop) cannot overflow the stack when printed.
  EXPECT_NE(error_of("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}"
                     "{{ ns.l }}")
                .find("nests too deeply"),
            std::string::npos);
}

TEST(jinja, hostile_bytes_fail_cleanly) {
  const std::string inputs[] = {
      std::string("{{ '\xff\xfe' }}\xc3", 11), "{{", "{%", "{#", "{{ }}", "{% %}", "{%- -%}", "}}{{", "{{ [ }}",
      "{{ x[1:2:0] }}", "{{ 'ab'[::-1] }}{{ 'ab'[9223372036854775807:] }}", "{% for %}", "{% set %}",
      "{% macro %}", "{% call %}", "{{ x|map }}", "{{ 1e999 }}", "{{ -9223372036854775807 - 1 }}",
      "{{ (-9223372036854775807 - 1) // -1 }}", "{{ (-9223372036854775807 - 1)|abs }}", "{{ 'a'|center(-5) }}",
      "{{ range(-9223372036854775807, 9223372036854775807, 9223372036854775807)|list }}",
      "{{ '\\ud83d' }}{{ '\\U0010ffff' }}", "{{ 'x'|indent(-3) }}{{ [1]|batch(-1) }}"};
  for (const auto& input : inputs) {
    SCOPED_TRACE(input);
    try {
      render(input);
    } catch (const owl::error&) {
    }
  }
}

TEST(jinja, strftime_now_reads_source_date_epoch) {
  setenv("SOURCE_DATE_EPOCH", "0", 1);
  EXPECT_EQ(render("{{ strftime_now('%Y-%m-%d %H:%M:%S') }}"), "1970-01-01 00:00:00");
  setenv("SOURCE_DATE_EPOCH", "1768478400", 1);
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}"), "15 Jan 2026");
  setenv("SOURCE_DATE_EPOCH", "soon", 1);
  EXPECT_NE(error_of("{{ strftime_now('%Y') }}").find("SOURCE_DATE_EPOCH must be"), std::string::npos);
  unsetenv("SOURCE_DATE_EPOCH");
  EXPECT_EQ(render("{{ strftime_now('%Y')|int > 2020 }}"), "True");  // the real clock
  setenv("SOURCE_DATE_EPOCH", "1768478400", 1);
}

// ---- speed: parse once, render many ----

TEST(jinja, renders_a_twenty_message_chat_well_under_a_millisecond) {
  const ordered golden =
      ordered::parse(test::read_file(test::fixtures() / "golden" / "chat" / "template-Qwen-Qwen3-0.6B.json"));
  const chat_template tmpl = chat_template::from_string(golden["chat_template"].get<std::string>(), "", "<|im_end|>");
  chat_render_options o;
  for (int i = 0; i < 10; ++i) {
    o.messages.push_back({{"role", "user"}, {"content", "Question number " + std::to_string(i) + " about open models?"}});
    o.messages.push_back(
        {{"role", "assistant"}, {"content", "An answer with a little more text in it, number " + std::to_string(i)}});
  }
  o.add_generation_prompt = true;
  const int runs = 200;
  const auto start = std::chrono::steady_clock::now();
  size_t total = 0;
  for (int i = 0; i < runs; ++i) total += tmpl.render(o).size();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / runs;
  EXPECT_GT(total, 0u);
  std::printf("qwen3 template, 20 messages: %.3f ms per render\n", ms);
  EXPECT_LT(ms, slow_build ? 20.0 : 1.0);  // sanitizer, unoptimized and emulated builds are several times slower
}

}  // namespace
}  // namespace owl
