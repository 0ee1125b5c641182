"""The simulated busybox applets (minidocker/kernel/sim/userland) on the
in-memory FakeKernel: output formats as busybox prints them, error messages
and exit statuses."""

from __future__ import annotations

import pytest

from minidocker.kernel.sim.userland.fake import FakeKernel, make_rootfs


@pytest.fixture
def k() -> FakeKernel:
    return make_rootfs(FakeKernel())


def sh(k, script, **kw):
    return k.exec(["sh", "-c", script], **kw)


def out(k, script, **kw) -> str:
    r = sh(k, script, **kw)
    assert (r.status, r.err) == (0, ""), r.err
    return r.out


# -- ls ----------------------------------------------------------------------------------

def test_ls_long_format_matches_busybox_columns(k):
    k.add_file("/srv/app.txt", "hello\n", 0o644)
    k.add_file("/srv/run.sh", "#!/bin/sh\n", 0o4755, uid=33, gid=33)
    k.add_dir("/srv/data")
    assert out(k, "cd /srv && ln -s app.txt link && ls -l") == (
        "total 12\n"
        "-rw-r--r--    1 root     root             6 Nov 14 22:13 app.txt\n"
        "drwxr-xr-x    2 root     root          4096 Nov 14 22:13 data\n"
        "lrwxrwxrwx    1 root     root             7 Nov 14 22:13 link -> app.txt\n"
        "-rwsr-xr-x    1 www-data www-data        10 Nov 14 22:13 run.sh\n")


def test_ls_long_shows_character_devices_with_major_and_minor(k):
    assert out(k, "ls -l /dev/zero /dev/null /dev/tty") == (
        "crw-rw-rw-    1 root     root        1,   3 Nov 14 22:13 /dev/null\n"
        "crw-rw-rw-    1 root     root        5,   0 Nov 14 22:13 /dev/tty\n"
        "crw-rw-rw-    1 root     root        1,   5 Nov 14 22:13 /dev/zero\n")


def test_ls_dates_older_than_six_months_show_the_year(k):
    k.add_file("/old", "x")
    k.now += 365 * 86400
    assert out(k, "ls -l /old") == "-rw-r--r--    1 root     root             1 Nov 14  2023 /old\n"


def test_ls_options_a_d_1_R_n_and_errors(k):
    k.add_file("/d/.hidden", "")
    k.add_file("/d/sub/f", "")
    assert out(k, "ls /d") == "sub\n"
    assert out(k, "ls -a /d") == ".\n..\n.hidden\nsub\n"
    assert out(k, "ls -A /d") == ".hidden\nsub\n"
    assert out(k, "ls -d /d") == "/d\n"
    assert out(k, "ls -1 /d/sub") == "f\n"
    assert out(k, "ls -R /d") == "/d:\nsub\n\n/d/sub:\nf\n"
    assert out(k, "ls -ln /d/sub/f") == "-rw-r--r--    1 0        0                0 Nov 14 22:13 /d/sub/f\n"
    assert out(k, "ls -p /d") == "sub/\n"
    r = sh(k, "ls /d /nope")
    assert r.status == 1
    assert r.err == "ls: /nope: No such file or directory\n"
    assert r.out == "/d:\nsub\n"


def test_ls_of_several_arguments_lists_files_first_then_directories(k):
    k.add_file("/x/a", "")
    k.add_file("/y", "")
    assert out(k, "ls /x /y") == "/y\n\n/x:\na\n"


def test_busybox_links_are_hard_links_to_one_binary(k):
    text = out(k, "ls -l /bin/busybox /bin/sh")
    n = text.split()[1]
    assert int(n) > 50
    assert out(k, "stat -c '%h %i' /bin/ls") == out(k, "stat -c '%h %i' /bin/busybox")


# -- files ---------------------------------------------------------------------------------

def test_mkdir_rmdir_rm_and_their_messages(k):
    assert out(k, "mkdir -p /a/b/c && mkdir /a/x && ls /a") == "b\nx\n"
    r = sh(k, "mkdir /a")
    assert (r.status, r.err) == (1, "mkdir: can't create directory '/a': File exists\n")
    r = sh(k, "mkdir /no/such")
    assert r.err == "mkdir: can't create directory '/no/such': No such file or directory\n"
    assert out(k, "mkdir -m 700 /p && stat -c %a /p") == "700\n"
    r = sh(k, "rmdir /a")
    assert (r.status, r.err) == (1, "rmdir: '/a': Directory not empty\n")
    assert out(k, "rmdir -p /a/b/c 2>/dev/null; ls /a") == "x\n"
    r = sh(k, "rm /a")
    assert (r.status, r.err) == (1, "rm: '/a' is a directory\n")
    r = sh(k, "rm /missing")
    assert r.err == "rm: can't remove '/missing': No such file or directory\n"
    assert sh(k, "rm -f /missing").status == 0
    assert out(k, "rm -rf /a && ls / | grep -c '^a$' || true") == "0\n"


def test_cp_mv_and_ln(k):
    k.add_file("/src/f", "data\n", 0o755)
    k.add_file("/src/sub/g", "g\n")
    assert out(k, "cp /src/f /f2 && cat /f2 && stat -c %a /f2") == "data\n755\n"
    r = sh(k, "cp /src /dst")
    assert (r.status, r.err) == (1, "cp: omitting directory '/src'\n")
    assert out(k, "cp -r /src /dst && find /dst | sort") == "/dst\n/dst/f\n/dst/sub\n/dst/sub/g\n"
    assert out(k, "mkdir /into && cp /src/f /src/sub/g /into && ls /into") == "f\ng\n"
    r = sh(k, "cp /nope /x")
    assert r.err == "cp: can't stat '/nope': No such file or directory\n"
    assert out(k, "mv /f2 /moved && ls /moved && cat /moved") == "/moved\ndata\n"
    assert out(k, "mv /moved /into && ls /into") == "f\ng\nmoved\n"
    assert out(k, "ln -s /src/f /lnk && readlink /lnk && cat /lnk") == "/src/f\ndata\n"
    r = sh(k, "ln -s /x /lnk")
    assert (r.status, r.err) == (1, "ln: /lnk: File exists\n")
    assert out(k, "ln -sf /src/sub/g /lnk && cat /lnk") == "g\n"
    assert out(k, "ln /src/f /hard && stat -c %h /src/f") == "2\n"
    assert out(k, "cp -a /lnk /lnk2 && readlink /lnk2") == "/src/sub/g\n"


def test_touch_creates_or_updates(k):
    assert out(k, "touch /new && ls -l /new") == "-rw-r--r--    1 root     root             0 Nov 14 22:13 /new\n"
    k.now += 120
    assert out(k, "touch /new && ls -l /new").endswith("22:15 /new\n")
    assert out(k, "touch -c /absent; ls /absent 2>&1; true") == "ls: /absent: No such file or directory\n"


@pytest.mark.parametrize("mode, before, after", [
    ("755", 0o644, "755"), ("u+x", 0o644, "744"), ("go-r", 0o644, "600"), ("a=r", 0o755, "444"),
    ("+x", 0o644, "755"), ("u=rwx,g=rx,o=", 0o600, "750"), ("o+w", 0o644, "646"), ("4755", 0o644, "4755"),
    ("u+s", 0o755, "4755"), ("+t", 0o777, "1777"), ("g+w", 0o644, "664"), ("a-x", 0o777, "666"),
])
def test_chmod_octal_and_symbolic(k, mode, before, after):
    k.add_file("/f", "", before)
    assert out(k, f"chmod {mode} /f && stat -c %a /f") == after + "\n"


def test_chmod_errors_and_recursion(k):
    k.add_file("/t/a/b", "", 0o600)
    r = sh(k, "chmod xyz /t")
    assert (r.status, r.err) == (1, "chmod: invalid mode 'xyz'\n")
    r = sh(k, "chmod 600 /none")
    assert r.err == "chmod: /none: No such file or directory\n"
    assert out(k, "chmod -R 700 /t && stat -c %a /t /t/a /t/a/b") == "700\n700\n700\n"


def test_chown_by_name_and_number(k):
    k.add_file("/f", "")
    assert out(k, "chown www-data:users /f && ls -l /f").startswith("-rw-r--r--    1 www-data users    ")
    assert out(k, "chown 1000:1000 /f && stat -c '%u %g %U' /f") == "1000 1000 UNKNOWN\n"
    assert out(k, "chown nobody: /f && stat -c '%U %G' /f") == "nobody nogroup\n"
    assert out(k, "chown :mail /f && stat -c '%U %G' /f") == "nobody mail\n"
    assert out(k, "chgrp wheel /f && stat -c %G /f") == "wheel\n"
    r = sh(k, "chown bob /f")
    assert (r.status, r.err) == (1, "chown: unknown user bob\n")
    r = sh(k, "chown root:nogrp /f")
    assert r.err == "chown: unknown group nogrp\n"


def test_find_with_name_type_and_depth(k):
    for p in ("/w/a.txt", "/w/b.log", "/w/sub/c.txt", "/w/sub/deep/d.txt"):
        k.add_file(p, "x")
    assert out(k, "find /w -name '*.txt'") == "/w/a.txt\n/w/sub/c.txt\n/w/sub/deep/d.txt\n"
    assert out(k, "find /w -type d") == "/w\n/w/sub\n/w/sub/deep\n"
    assert out(k, "find /w -maxdepth 1 -type f") == "/w/a.txt\n/w/b.log\n"
    assert out(k, "cd /w && find . -name '*.log'") == "./b.log\n"
    assert out(k, "find /w -type f ! -name '*.txt'") == "/w/b.log\n"
    assert out(k, "find /w -name a.txt -o -name b.log") == "/w/a.txt\n/w/b.log\n"
    assert out(k, "find /w -name 'c.*' -exec cat {} \\;") == "x"
    r = sh(k, "find /nowhere")
    assert (r.status, r.err) == (1, "find: /nowhere: No such file or directory\n")


def test_du_df_and_stat(k):
    k.add_file("/data/a", "x" * 5000)
    k.add_file("/data/b", "y" * 10)
    assert out(k, "du -s /data") == "16\t/data\n"
    assert out(k, "du -sh /data") == "16.0K\t/data\n"
    assert out(k, "du /data") == "16\t/data\n"
    assert out(k, "du -a /data") == "8\t/data/a\n4\t/data/b\n16\t/data\n"
    df = out(k, "df").splitlines()
    assert df[0] == "Filesystem           1K-blocks      Used Available Use% Mounted on"
    assert df[1] == "overlay               61255492   9843424  51412068  17% /"
    assert "tmpfs                    65536         0     65536   0% /dev" in df
    assert out(k, "df -h / | tail -n 1") == "overlay                 58.4G     9.4G     49.0G  17% /\n"
    text = out(k, "stat /data/b")
    assert text.splitlines()[0] == "  File: '/data/b'"
    assert "Size: 10" in text and "regular file" in text
    assert "Access: (0644/-rw-r--r--)  Uid: (    0/    root)   Gid: (    0/    root)" in text
    assert out(k, "stat -c '%n %s %F %A' /data /dev/null") == (
        "/data 4096 directory drwxr-xr-x\n/dev/null 0 character special file crw-rw-rw-\n")


def test_basename_dirname_readlink_realpath(k):
    assert out(k, "basename /usr/local/bin/tool.sh .sh; basename /usr/; dirname /usr/local/bin; dirname x") == \
        "tool\nusr\n/usr/local\n.\n"
    k.add_dir("/real/dir")
    assert out(k, "ln -s /real /l && readlink -f /l/dir/../dir && realpath /l") == "/real/dir\n/real\n"


# -- text ------------------------------------------------------------------------------------

@pytest.mark.parametrize("script, expected", [
    ("echo -n a; echo b", "ab\n"),
    ("echo 'a\\tb'", "a\\tb\n"),
    ("echo -e 'a\\tb\\101'", "a\tb\\101\n"),
    ("echo -e 'x\\0101y'", "xAy\n"),
    ("echo -e 'stop\\cnever'", "stop"),
    ("printf '%s|%5s|%-3s|\\n' a b c", "a|    b|c  |\n"),
    ("printf '%d %05d %x %o %X\\n' 42 42 255 8 255", "42 00042 ff 10 FF\n"),
    ("printf '%.2f %e\\n' 3.14159 1000", "3.14 1.000000e+03\n"),
    ("printf '%c%c\\n' hello world", "hw\n"),
    ("printf '%s\\n' a b c", "a\nb\nc\n"),
    ("printf '%b\\n' 'a\\nb'", "a\nb\n"),
    ("printf 'no newline'", "no newline"),
    ("printf '%%d\\n'", "%d\n"),
    ("printf '\\101\\x42\\n'", "AB\n"),
    ("printf '%d\\n' \"'A\"", "65\n"),
    ("printf '%*d|\\n' 5 1", "    1|\n"),
])
def test_echo_and_printf(k, script, expected):
    assert out(k, script) == expected


def test_printf_bad_number_is_reported_and_fails(k):
    r = sh(k, "printf '%d\\n' abc")
    assert (r.status, r.out, r.err) == (1, "0\n", "printf: invalid number 'abc'\n")


@pytest.mark.parametrize("script, expected", [
    ("cat /etc/hostname", "3f2a1b4c5d6e\n"),
    ("printf 'a\\nb\\n' | cat -n", "     1\ta\n     2\tb\n"),
    ("printf 'one two\\nthree\\n' | wc", "        2         3        14\n"),
    ("printf 'one two\\nthree\\n' | wc -l", "2\n"),
    ("printf 'one two\\nthree\\n' | wc -w", "3\n"),
    ("printf 'one two\\nthree\\n' | wc -c", "14\n"),
    ("wc -l /etc/passwd /etc/group", "9 /etc/passwd\n22 /etc/group\n31 total\n"),
    ("seq 10 | head -n 3", "1\n2\n3\n"),
    ("seq 10 | head -3", "1\n2\n3\n"),
    ("seq 10 | tail -n 2", "9\n10\n"),
    ("seq 5 | tail -n +4", "4\n5\n"),
    ("printf 'abcdef' | head -c 3", "abc"),
    ("seq 3", "1\n2\n3\n"),
    ("seq 2 2 8", "2\n4\n6\n8\n"),
    ("seq 3 -1 1", "3\n2\n1\n"),
    ("seq -s ' ' 4", "1 2 3 4\n"),
    ("seq -w 8 10", "08\n09\n10\n"),
    ("seq 0.5 0.5 1.5", "0.5\n1.0\n1.5\n"),
    ("printf 'b\\na\\nc\\na\\n' | sort", "a\na\nb\nc\n"),
    ("printf 'b\\na\\nc\\na\\n' | sort -u", "a\nb\nc\n"),
    ("printf 'b\\na\\nc\\n' | sort -r", "c\nb\na\n"),
    ("printf '10\\n9\\n100\\n' | sort -n", "9\n10\n100\n"),
    ("printf 'x 3\\ny 1\\nz 2\\n' | sort -k 2 -n", "y 1\nz 2\nx 3\n"),
    ("printf 'a:3\\nb:1\\n' | sort -t: -k2", "b:1\na:3\n"),
    ("printf 'a\\na\\nb\\na\\n' | uniq", "a\nb\na\n"),
    ("printf 'a\\na\\nb\\n' | uniq -c", "      2 a\n      1 b\n"),
    ("printf 'a\\na\\nb\\n' | uniq -d", "a\n"),
    ("printf 'a\\na\\nb\\n' | uniq -u", "b\n"),
    ("echo 'a:b:c:d' | cut -d: -f2", "b\n"),
    ("echo 'a:b:c:d' | cut -d: -f1,3", "a:c\n"),
    ("echo 'a:b:c:d' | cut -d: -f2-", "b:c:d\n"),
    ("echo 'abcdef' | cut -c 2-4", "bcd\n"),
    ("cut -d: -f1 /etc/passwd | head -n 2", "root\ndaemon\n"),
    ("echo hello | tr a-z A-Z", "HELLO\n"),
    ("echo hello | tr -d l", "heo\n"),
    ("echo 'a  b   c' | tr -s ' '", "a b c\n"),
    ("echo 'a b' | tr ' ' '\\n'", "a\nb\n"),
    ("echo MiXeD | tr '[:upper:]' '[:lower:]'", "mixed\n"),
    ("echo abc | rev", "cba\n"),
    ("echo x | tee /tmp/t1 /tmp/t2 && cat /tmp/t1 /tmp/t2", "x\nx\nx\n"),
    ("echo 1 > /tmp/a; echo 2 | tee -a /tmp/a > /dev/null; cat /tmp/a", "1\n2\n"),
    ("printf 'abc' | md5sum", "900150983cd24fb0d6963f7d28e17f72  -\n"),
    ("printf 'abc' | sha256sum", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n"),
    ("echo a b c | xargs", "a b c\n"),
    ("echo a b c | xargs -n 2 echo +", "+ a b\n+ c\n"),
    ("printf 'x\\ny\\n' | xargs -I{} echo '<{}>'", "<x>\n<y>\n"),
])
def test_text_applets(k, script, expected):
    assert out(k, script) == expected


@pytest.mark.parametrize("script, expected", [
    ("grep root /etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
    ("grep -n '^bin' /etc/passwd", "3:bin:x:2:2:bin:/bin:/bin/false\n"),
    ("grep -c false /etc/passwd", "7\n"),
    ("grep -i ROOT /etc/group", "root:x:0:\nwheel:x:10:root\n"),
    ("grep -v x /etc/passwd | wc -l", "0\n"),
    ("grep -w sys /etc/passwd | cut -d: -f1", "sys\n"),
    ("grep '\\(www\\)-data' /etc/passwd | cut -d: -f1", "www-data\n"),
    ("grep -E '^(root|mail):' /etc/passwd | cut -d: -f1", "root\nmail\n"),
    ("grep '^ro\\{2\\}' /etc/passwd | cut -d: -f1", "root\n"),
    ("grep 'o\\{2\\}' /etc/passwd | cut -d: -f1", "root\nmail\n"),
    ("grep 'ro*t:' /etc/passwd | cut -d: -f1", "root\n"),
    ("grep '[[:digit:]]\\{5\\}' /etc/passwd | cut -d: -f1", "nobody\n"),
    ("grep -o 'x:[0-9]*' /etc/hostname /etc/passwd | head -n 1", "/etc/passwd:x:0\n"),
    ("grep -l root /etc/passwd /etc/group /etc/hostname", "/etc/passwd\n/etc/group\n"),
    ("grep -F 'a.b' /etc/passwd; echo $?", "1\n"),
    ("grep -q root /etc/passwd && echo yes", "yes\n"),
    ("echo 'a+b' | grep 'a+b'", "a+b\n"),
    ("echo 'aab' | grep -E 'a+b'", "aab\n"),
    ("echo '*star' | grep '*star'", "*star\n"),
    ("printf 'x\\ny\\n' | grep -e x -e y", "x\ny\n"),
    ("grep -r hostname-x /etc; echo $?", "1\n"),
    ("echo needle > /tmp/n; grep -r needle /tmp", "/tmp/n:needle\n"),
])
def test_grep(k, script, expected):
    assert out(k, script) == expected


def test_grep_missing_file_is_status_2(k):
    r = sh(k, "grep x /missing")
    assert (r.status, r.err) == (2, "grep: /missing: No such file or directory\n")


@pytest.mark.parametrize("script, expected", [
    ("echo hello | sed 's/l/L/'", "heLlo\n"),
    ("echo hello | sed 's/l/L/g'", "heLLo\n"),
    ("echo hello | sed 's/l/L/2'", "helLo\n"),
    ("echo /usr/bin | sed 's|/usr|/opt|'", "/opt/bin\n"),
    ("echo hello | sed 's/\\(h\\)\\(e\\)/\\2\\1/'", "ehllo\n"),
    ("echo hello | sed -E 's/(l+)/[\\1]/'", "he[ll]o\n"),
    ("echo hello | sed 's/ell/<&>/'", "h<ell>o\n"),
    ("printf 'a\\nb\\nc\\n' | sed -n '2p'", "b\n"),
    ("printf 'a\\nb\\nc\\n' | sed '2d'", "a\nc\n"),
    ("printf 'a\\nb\\nc\\n' | sed '$d'", "a\nb\n"),
    ("printf 'a\\nb\\nc\\n' | sed -n '/b/,$p'", "b\nc\n"),
    ("printf 'a\\nb\\nc\\n' | sed '/a/!s/$/!/'", "a\nb!\nc!\n"),
    ("printf 'x1\\ny2\\n' | sed -n 's/y/Y/p'", "Y2\n"),
    ("printf 'a\\nb\\n' | sed -e 's/a/A/' -e 's/b/B/'", "A\nB\n"),
    ("printf 'a\\nb\\n' | sed 's/a/A/;s/b/B/'", "A\nB\n"),
    ("printf 'a\\nb\\nc\\n' | sed 2q", "a\nb\n"),
    ("echo 'key = value' | sed 's/ *= */=/'", "key=value\n"),
])
def test_sed_subset(k, script, expected):
    assert out(k, script) == expected


def test_sed_in_place_edits_the_file(k):
    k.add_file("/etc/app.conf", "port=80\nhost=localhost\n")
    assert out(k, "sed -i 's/80/8080/' /etc/app.conf && cat /etc/app.conf") == "port=8080\nhost=localhost\n"
    r = sh(k, "sed 'y/a/b/' /etc/app.conf")
    assert r.status == 1 and "unsupported command y" in r.err


@pytest.mark.parametrize("expr, status", [
    ("1 -lt 2", 0), ("2 -lt 1", 1), ("5 -ge 5", 0), ("a = a", 0), ("a != a", 1), ("-n ''", 1), ("-z ''", 0),
    ("abc", 0), ("''", 1), ("-e /etc/passwd", 0), ("-f /etc", 1), ("-d /etc", 0), ("-c /dev/null", 0),
    ("-h /bin/sh", 1), ("-x /bin/ls", 0), ("-s /etc/passwd", 0), ("! -e /nope", 0), ("1 -eq 1 -a 2 -eq 3", 1),
    ("1 -eq 1 -o 2 -eq 3", 0), ("\\( 1 -eq 1 \\)", 0), ("b \\> a", 0), ("-r /etc/shadow", 0), ("=", 0),
])
def test_test_and_bracket(k, expr, status):
    assert sh(k, f"test {expr}").status == status
    assert sh(k, f"[ {expr} ]").status == status


def test_test_errors_are_status_2(k):
    r = sh(k, "[ 1 -eq x ]")
    assert (r.status, r.err) == (2, "[: x: bad number\n")
    r = sh(k, "[ 1 = 1")
    assert (r.status, r.err) == (2, "[: missing ]\n")


# -- processes, identity, the machine ----------------------------------------------------------

def test_ps_shows_the_container_processes_like_busybox(k):
    # Debian's busybox-static prints no TIME column; `sh -c` runs its last command in place
    assert out(k, "ps; true") == ("PID   USER     COMMAND\n"
                                  "    1 root     sh -c ps; true\n"
                                  "    2 root     ps\n")
    assert out(k, "ps") == "PID   USER     COMMAND\n    1 root     ps\n"
    assert out(k, "ps -o pid,ppid,comm; true") == "  PID  PPID COMMAND\n    1     0 sh\n    2     1 ps\n"
    # stages run one after the other: wc does not exist yet while ps looks (a real pipeline shows 4)
    assert out(k, "ps aux | wc -l") == "3\n"


def test_id_whoami_groups(k):
    assert out(k, "id") == "uid=0(root) gid=0(root) groups=0(root),10(wheel)\n"
    assert out(k, "id -u; id -g; id -un; id -G") == "0\n0\nroot\n0 10\n"
    assert out(k, "id nobody") == "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
    assert out(k, "whoami; groups") == "root\nroot wheel\n"
    r = sh(k, "id ghost")
    assert (r.status, r.err) == (1, "id: unknown user ghost\n")
    r = k.exec(["id"], uid=1234)
    assert r.out == "uid=1234 gid=1234 groups=1234\n"


def test_id_uses_the_group_file_as_given(k):
    k.add_file("/etc/group", "root:x:0:\n")
    assert out(k, "id") == "uid=0(root) gid=0(root) groups=0(root)\n"


def test_hostname_uname_date_nproc_free(k):
    assert out(k, "hostname; hostname web-1; hostname; cat /etc/hostname") == "3f2a1b4c5d6e\nweb-1\n3f2a1b4c5d6e\n"
    assert out(k, "uname; uname -m; uname -n; uname -r") == "Linux\nx86_64\nweb-1\n6.6.0-minidocker-sim\n"
    assert out(k, "uname -a") == ("Linux web-1 6.6.0-minidocker-sim #1 SMP PREEMPT_DYNAMIC "
                                  "(simulated kernel) x86_64 GNU/Linux\n")
    assert out(k, "date") == "Tue Nov 14 22:13:20 UTC 2023\n"
    assert out(k, "date +%Y-%m-%dT%H:%M:%S; date -u +%s; date -d @86400 +%F") == \
        "2023-11-14T22:13:20\n1700000000\n1970-01-02\n"
    assert out(k, "sleep 90; date +%H:%M") == "22:14\n"
    assert out(k, "nproc") == "2\n"
    lines = out(k, "free").splitlines()
    assert lines[0].split() == ["total", "used", "free", "shared", "buff/cache", "available"]
    assert lines[1].startswith("Mem:   ") and lines[2].startswith("Swap:  ")


def test_env_and_printenv(k):
    env = {"PATH": "/bin", "HOME": "/root", "A": "1"}
    assert k.exec(["env"], env=env).out == "PATH=/bin\nHOME=/root\nA=1\n"
    assert k.exec(["env", "-i", "X=y", "env"], env=env).out == "X=y\n"
    assert k.exec(["env", "-u", "A", "B=2", "sh", "-c", "echo $A$B"], env=env).out == "2\n"
    assert k.exec(["printenv", "HOME"], env=env).out == "/root\n"
    assert k.exec(["printenv", "NOPE"], env=env).status == 1


def test_mount_prints_the_table_and_refuses_to_mount(k):
    lines = out(k, "mount").splitlines()
    assert lines[0].startswith("overlay on / type overlay (rw,relatime,lowerdir=")
    assert "proc on /proc type proc (rw,nosuid,nodev,noexec,relatime)" in lines
    assert out(k, "mount -t proc") == "proc on /proc type proc (rw,nosuid,nodev,noexec,relatime)\n"
    r = sh(k, "mount -t tmpfs none /mnt")
    assert (r.status, r.err) == (1, "mount: permission denied (are you root?)\n")


def test_kill_signals_and_pid_1(k):
    assert out(k, "kill -l | head -n 2; kill -l 9; kill -l KILL") == "1) HUP\n2) INT\nKILL\n9\n"
    r = sh(k, "kill 4242")
    assert (r.status, r.err) == (1, "kill: can't kill pid 4242: No such process\n")
    r = sh(k, "kill -s BOGUS 1")
    assert r.err == "kill: bad signal name 'BOGUS'\n"
    assert out(k, "kill -9 1; echo still here") == "still here\n"       # init ignores it
    r = sh(k, "sh -c 'kill -9 $$; echo never'; echo $?")
    assert r.out == "137\n" and r.err == "Killed\n"
    r = sh(k, "sh -c 'kill $$'; echo $?")
    assert r.out == "143\n" and r.err == "Terminated\n"


def test_sleep_validates_and_advances_the_clock(k):
    before = k.now
    assert out(k, "sleep 1.5; sleep 1m") == ""
    assert k.now == before + 61.5
    r = sh(k, "sleep abc")
    assert (r.status, r.err) == (1, "sleep: invalid number 'abc'\n")


def test_which_and_busybox_itself(k):
    assert out(k, "which ls sh") == "/bin/ls\n/bin/sh\n"
    r = sh(k, "which nope")
    assert (r.status, r.out) == (1, "")
    assert out(k, "busybox echo from busybox; busybox --list | grep -c '^ls$'") == "from busybox\n1\n"
    assert out(k, "busybox | head -n 1") == "BusyBox v1.36.1 (simulated) multi-call binary.\n"
    r = sh(k, "busybox frobnicate")
    assert (r.status, r.err) == (127, "frobnicate: applet not found\n")


def test_names_outside_etc_hosts_are_unknown_since_no_dns_server_is_modelled(k):
    r = sh(k, "wget http://example.com/index.html")
    assert (r.status, r.err) == (1, "wget: bad address 'example.com'\n")
    k.add_file("/usr/bin/curl", "#!minidocker-sim curl\n", 0o755)
    r = sh(k, "curl -fsSL https://example.com:8443/x")
    assert (r.status, r.err) == (6, "curl: (6) Could not resolve host: example.com\n")


def test_unknown_option_prints_busybox_usage(k):
    r = sh(k, "ls -Z /")
    assert r.status == 1
    assert r.err.startswith("ls: invalid option -- 'Z'\nBusyBox v1.36.1 (simulated) multi-call binary.\n")


# -- memory -------------------------------------------------------------------------------------

def test_memhog_under_a_memory_limit_is_oom_killed():
    k = make_rootfs(FakeKernel(memory_limit=50 << 20))
    k.add_file("/usr/bin/memhog", "#!minidocker-sim memhog\n", 0o755)
    r = k.exec(["sh", "-c", "memhog 100M; echo \"status $?\""])
    assert r.out == "memhog: allocating 100 MiB\nmemhog: 25 MiB\nmemhog: 50 MiB\nstatus 137\n"
    assert r.err == "Killed\n"
    assert [argv for _, argv in k.oom_kills] == [("/usr/bin/memhog", "100M")]
    assert k.memory_used == 0
    r = k.exec(["memhog", "64m"])
    assert r.status == 137
    r = k.exec(["sh", "-c", "memhog 10M 5 && echo fine"])
    assert r.out.endswith("memhog: allocated 10 MiB, holding for 5 s\nfine\n")
    assert k.now == FakeKernel().now + 5


def test_stress_reports_a_worker_killed_by_the_oom_killer():
    k = make_rootfs(FakeKernel(memory_limit=100 << 20))
    k.add_file("/usr/bin/stress", "#!minidocker-sim stress\n", 0o755)
    r = k.exec(["sh", "-c", "stress --vm 1 --vm-bytes 256M --timeout 10s"])
    assert r.status == 1
    assert r.out == "stress: info: [1] dispatching hogs: 0 cpu, 0 io, 1 vm, 0 hdd\n"  # sh -c execs it
    assert r.err.splitlines() == ["stress: FAIL: [1] (415) <-- worker 2 got signal 9",
                                  "stress: WARN: [1] (417) now reaping child worker processes",
                                  "stress: FAIL: [1] (451) failed run completed in 0s"]
    r = k.exec(["stress", "--vm", "1", "--vm-bytes", "32M", "--timeout", "3s"])
    assert (r.status, r.out.splitlines()[-1]) == (0, "stress: info: [1] successful run completed in 3s")


def test_free_counts_what_processes_allocate(k):
    k.add_file("/usr/bin/memhog", "#!minidocker-sim memhog\n", 0o755)
    base = int(out(k, "free").splitlines()[1].split()[2])
    assert base == 262144
