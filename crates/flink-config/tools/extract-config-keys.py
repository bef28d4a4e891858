#!/usr/bin/env python3
"""Regenerate src/catalog/generated.rs from the ConfigOption definitions inside flink-dist jars.

Usage (needs a JDK: javap reads the options, java the enum constants):
  tools/extract-config-keys.py FLINK_HOME... > src/catalog/generated.rs
with one FLINK_HOME per minor release (the testkit's cache holds them: `cargo run -p
flink-testkit --bin flink-testkit-fetch`, then ~/.cache/flink-ops/flink-*). The version of each
comes from its lib/flink-dist-V.jar.

Every key is tagged with the minors that define it, so a key renamed or removed in a release is
known exactly where Flink knows it. Flink matches an enum value against each constant's
toString() (any case), so the allowed values come from loading the enum classes
(tools/EnumNames.java), not from their field names: an enum that overrides toString() gets what
Flink compares with.
"""
import glob, json, re, subprocess, sys, os, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

def dump(home, version):
    dist = os.path.join(home, 'lib', 'flink-dist-%s.jar' % version)
    classpath = ':'.join([dist] + sorted(j for j in glob.glob(os.path.join(home, 'lib', '*.jar')) if j != dist))
    with zipfile.ZipFile(dist) as z:
        classes = sorted(p[:-6].replace('/', '.') for p in z.namelist()
                         if p.startswith('org/apache/flink/') and '/shaded/' not in p
                         and p.endswith('Options.class'))
    out = subprocess.run(['javap', '-c', '-p', '-constants', '-cp', dist] + classes,
                         capture_output=True, text=True, check=True).stdout
    keys = {}
    cur = None; last_str = None; last_class = None; pending_strs = []
    for line in out.splitlines():
        m = re.search(r'// String (.*)$', line)
        if m: last_str = m.group(1); pending_strs.append(last_str); continue
        m = re.search(r'// class (\S+)$', line)
        if m: last_class = m.group(1); continue
        if 'ConfigOptions.key:' in line:
            cur = last_str; keys.setdefault(cur, {'type': None, 'aliases': []}); pending_strs = []; continue
        m = re.search(r'OptionBuilder\.(\w+)Type:', line)
        if m and cur:
            t = m.group(1)
            if t == 'enum': t = 'enum:' + last_class.replace('/', '.')
            keys[cur]['type'] = t; continue
        if 'asList:' in line and cur: keys[cur]['type'] = 'list'; continue
        if ('withDeprecatedKeys' in line or 'withFallbackKeys' in line) and cur:
            keys[cur]['aliases'] += [s for s in pending_strs if re.match(r'^[a-z][\w.-]*\.[\w.-]+$', s)]
            pending_strs = []; continue
        if 'defaultValue:' in line or 'noDefaultValue:' in line: pending_strs = []
    # enum constants, as toString() gives them
    enums = sorted({v['type'][5:] for v in keys.values() if v['type'] and v['type'].startswith('enum:')})
    ev = {}
    if enums:
        o = subprocess.run(['java', '-cp', classpath, os.path.join(HERE, 'EnumNames.java')] + enums,
                           capture_output=True, text=True, check=True).stdout
        for line in o.splitlines():
            cls, *names = line.split('\t')
            if names and names[0].startswith('!'):
                sys.exit('Flink %s: cannot read the constants of %s: %s' % (version, cls, names[0][1:]))
            ev[cls] = names
        missing = [e for e in enums if not ev.get(e)]
        if missing: sys.exit('Flink %s: enum classes without constants: %s' % (version, missing))
    for k, v in keys.items():
        if v['type'] and v['type'].startswith('enum:'):
            v['enum'] = ev[v['type'][5:]]
    return keys

KEY = re.compile(r'^[a-z0-9][a-zA-Z0-9_-]*(\.[a-zA-Z0-9_-]+)+$')
TY = {'string': 'String', 'boolean': 'Boolean', 'int': 'Int', 'long': 'Long', 'duration': 'Duration',
      'memory': 'MemorySize', 'list': 'List', 'double': 'Float', 'float': 'Float', 'map': 'Map'}
def flat(d):
    """Every key and alias with its type. A key's own option wins over options that name it as a
    deprecated or fallback key (`rest.port` is an int, and a fallback of the string
    `rest.bind-port`), unless its own is a string and the other is typed."""
    def ty(v):
        t = v['type']
        return 'Enum(&[%s])' % ', '.join(json.dumps(e) for e in v['enum']) if t.startswith('enum:') else TY[t]
    out = {k: ty(v) for k, v in d.items() if KEY.match(k)}
    for k, v in d.items():
        for name in v['aliases']:
            # Both options read the value: a typed one is stricter than a string.
            if KEY.match(name) and out.get(name, 'String') == 'String': out[name] = ty(v)
    return out
def version_of(home):
    jars = glob.glob(os.path.join(home, 'lib', 'flink-dist-*.jar'))
    if len(jars) != 1: sys.exit('%s: expected one lib/flink-dist-*.jar, found %s' % (home, jars))
    return os.path.basename(jars[0])[len('flink-dist-'):-len('.jar')]

def minor(version):
    return tuple(int(p) for p in version.split('.')[:2])

homes = sys.argv[1:]
if not homes: sys.exit(__doc__)
versions = sorted(((version_of(h), h) for h in homes), key=lambda vh: minor(vh[0]))
minors = [minor(v) for v, _ in versions]
if len(set(minors)) != len(minors): sys.exit('one FLINK_HOME per minor release: %s' % [v for v, _ in versions])
tables = [flat(dump(h, v)) for v, h in versions]
flag = ['F%d_%d' % m for m in minors]
everywhere = (1 << len(minors)) - 1

def mask_expr(mask):
    if mask == everywhere: return 'ALL'
    return ' | '.join(f for i, f in enumerate(flag) if mask >> i & 1)

print('// @generated by tools/extract-config-keys.py from flink-dist %s; do not edit.' % ', '.join(v for v, _ in versions))
print('use super::{KeyDef, ValueType::*};\n')
print('/// The minor releases the catalog was extracted from, oldest first; bit `i` of a key\'s')
print('/// `minors` is `MINORS[i]`.')
print('pub(super) const MINORS: [(u32, u32); %d] = [%s];' % (len(minors), ', '.join('(%d, %d)' % m for m in minors)))
for i, f in enumerate(flag):
    print('const %s: u16 = 1 << %d;' % (f, i))
print('const ALL: u16 = %s;\n' % ' | '.join(flag))
print('pub(super) static KEYS: &[KeyDef] = &[')
for k in sorted(set().union(*tables)):
    # One entry per distinct type, tagged with the minors that declare the key with it.
    by_type = {}
    for i, t in enumerate(tables):
        if k in t: by_type[t[k]] = by_type.get(t[k], 0) | 1 << i
    for ty, mask in sorted(by_type.items(), key=lambda tm: (tm[1] & -tm[1])):
        print('    KeyDef::new("%s", %s, %s),' % (k, ty, mask_expr(mask)))
print('];')
