"""`.dockerignore` semantics: Docker's ignore-file reader, pattern matcher and context walk.

Expectations come from Docker's documentation (the `.dockerignore` section of
the build-context docs) and moby/patternmatcher's own test tables.
"""

import os

import pytest

from minidocker.build.ignore import Matcher, read_patterns, walk_context
from minidocker.errors import MinidockerError


def excluded(patterns, path):
    return Matcher(patterns).matches(path)


# --- reading the file (ignorefile.ReadAll) ---------------------------------------------------

def test_read_patterns_normalises_like_docker_readall():
    text = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n"
    assert read_patterns(text) == ["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path"]


@pytest.mark.parametrize("line, pattern", [
    ("  spaced.txt \t", "spaced.txt"),
    ("./a/b/", "a/b"),              # filepath.Clean drops "./" and the trailing slash
    ("a//b/./c", "a/b/c"),
    ("a/../b", "b"),
    ("//abs", "abs"),
    ("/", "/"),                     # a lone "/" stays (it matches nothing)
    ("!./x/", "!x"),
    ("  # not a comment", "# not a comment"),   # only column 1 starts a comment
    ("dir\\file", "dir\\file"),     # backslash is not a separator on Linux
])
def test_read_patterns_cleans_each_line(line, pattern):
    assert read_patterns(line) == [pattern]


def test_read_patterns_skips_comments_blank_lines_bom_and_crlf():
    text = "\ufeff# comment\r\n\r\n   \r\n*.log\r\n#!keep.log\r\n!keep.log\r\n"
    assert read_patterns(text) == ["*.log", "!keep.log"]


@pytest.mark.parametrize("text, lineno", [
    ("ok\n!\n", 2),
    ("a\nb\n! \n", 3),
    ("[\n", 1),
    ("x\nfoo[a-\n", 2),
    ("# c\ntrailing\\\n", 2),
    ("[]a]\n", 1),
    ("[z-a]\n", 1),
])
def test_read_patterns_rejects_invalid_pattern_with_line_number(text, lineno):
    with pytest.raises(MinidockerError, match=f"line {lineno}"):
        read_patterns(text)


def test_matcher_rejects_invalid_pattern():
    with pytest.raises(MinidockerError):
        Matcher(["a[b"])


# --- single patterns -------------------------------------------------------------------------

@pytest.mark.parametrize("pattern, path, expected", [
    # * and ? stay inside one path element
    ("*", "file", True),
    ("*", "dir/file", True),                 # via the parent "dir"
    ("*.go", "main.go", True),
    ("*.go", "cmd/main.go", False),          # * does not cross "/"
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a?b", "a/b", False),
    ("a?b", "a☺b", True),
    # character classes
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    ("a[^b-d]e", "ace", False),
    ("[!a]bc", "!bc", True),                 # Go: "!" is literal in a class, not negation
    ("[!a]bc", "xbc", False),
    ("[\\]a]", "]", True),
    ("[x\\-]", "-", True),
    ("[a-ζ]*", "αβ", True),
    # escapes and regex metacharacters
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a\\\\", "a\\", True),
    ("abc.def", "abcZdef", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("a^b", "a^b", True),
    # ** spans any number of directories, including zero
    ("**", "anything/at/all", True),
    ("**/*.go", "main.go", True),
    ("**/*.go", "a/b/c/main.go", True),
    ("**/*.go", "main.goo", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/c", False),
    ("abc/**", "abc", False),                # only what is below abc
    ("abc/**", "abc/def/ghi", True),
    ("**/dir", "dir/file", True),
    ("**/dir", "xdir/file", False),
    ("**file", "dir/file", True),
    ("**.go", "dir/main.go", True),          # Docker's ends-with fast path for "**literal"
    # leading / trailing slash, dots, hidden files
    ("foo/bar/", "foo/bar/baz", True),
    (".*", ".git", True),
    (".*", "git", False),
    ("**/.env", "svc/.env", True),
    ("**/.foo", "bar.foo", False),
    # names with spaces, unicode, backslashes
    ("my file.txt", "my file.txt", True),
    ("dir with space/*", "dir with space/x y", True),
    ("данные/*.csv", "данные/t.csv", True),
    ("dir\\file", "dir/file", False),        # backslash escapes "f", it is no separator
    ("dir\\file", "dirfile", True),
    ("dir\\\\file", "dir\\file", True),
    # a pattern is a whole path, not a substring
    ("foo", "foobar", False),
    ("foo", "a/foo", False),
    ("bar", "foo/bar", False),
])
def test_single_pattern(pattern, path, expected):
    assert excluded([pattern], path) is expected


@pytest.mark.parametrize("path", [".", "", "./", "/"])
def test_context_root_is_never_excluded(path):
    assert excluded(["**", "*", "."], path) is False


def test_leading_slash_is_relative_to_the_context_root():
    # Docker docs: "/foo/bar" and "foo/bar" both exclude bar in the foo subdirectory only.
    for line in ["/foo/bar", "foo/bar"]:
        m = Matcher(read_patterns(line))
        assert m.matches("foo/bar") and m.matches("foo/bar/x")
        assert not m.matches("bar") and not m.matches("x/foo/bar")


def test_paths_are_cleaned_before_matching():
    m = Matcher(["build"])
    assert m.matches("./build/out/") and m.matches("/build") and m.matches("x/../build/a")


# --- Docker documentation examples -----------------------------------------------------------

@pytest.mark.parametrize("path, expected", [
    ("somedir/temporary.txt", True),         # */temp*
    ("somedir/temp", True),
    ("somedir/subdir/temporary.txt", True),  # */*/temp*
    ("tempa", True),                         # temp?
    ("tempb", True),
    ("temp", False),
    ("temporary.txt", False),
    ("a/b/c/temp", False),
])
def test_docs_example_temp_patterns(path, expected):
    patterns = read_patterns("# comment\n*/temp*\n*/*/temp*\ntemp?\n")
    assert excluded(patterns, path) is expected


def test_docs_example_markdown_with_readme_exception():
    patterns = ["*.md", "!README.md"]
    assert excluded(patterns, "CHANGELOG.md")
    assert not excluded(patterns, "README.md")


def test_docs_example_last_matching_line_wins():
    secret_last = ["*.md", "!README*.md", "README-secret.md"]
    assert excluded(secret_last, "README-secret.md")
    assert not excluded(secret_last, "README-public.md")
    assert excluded(secret_last, "other.md")
    exception_last = ["*.md", "README-secret.md", "!README*.md"]
    assert not excluded(exception_last, "README-secret.md")


def test_docs_example_include_only_listed_paths():
    patterns = ["*", "!src", "!Dockerfile"]
    assert not excluded(patterns, "src/main.c")
    assert not excluded(patterns, "Dockerfile")
    assert excluded(patterns, "docs/index.md")
    assert excluded(patterns, ".git")


# --- exceptions and directories --------------------------------------------------------------

def test_excluded_directory_excludes_its_contents():
    assert excluded(["node_modules"], "node_modules/pkg/index.js")
    assert excluded(["*/cache"], "svc/cache/a/b")


def test_exception_inside_excluded_directory_re_includes_only_that_path():
    patterns = ["docs", "!docs/README.md"]
    assert not excluded(patterns, "docs/README.md")
    assert excluded(patterns, "docs/other.md")
    assert excluded(patterns, "docs")                # the directory entry itself stays excluded


def test_exception_re_includes_a_whole_subtree():
    patterns = ["**", "!util/docker/web"]
    assert not excluded(patterns, "util/docker/web/foo")
    assert excluded(["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo")


def test_exception_before_exclusion_has_no_effect():
    assert excluded(["!fileutils.go", "*.go"], "fileutils.go")


def test_exception_cannot_re_include_below_a_later_parent_exclusion():
    assert excluded(["!keep/a", "keep"], "keep/a")


# --- excludes_dir_entirely -------------------------------------------------------------------

@pytest.mark.parametrize("patterns, directory, expected", [
    (["node_modules"], "node_modules", True),
    (["docs"], "src", False),                                # not excluded at all
    (["docs", "!docs/keep"], "docs", False),
    (["docs", "!docs/sub/keep"], "docs/sub", False),
    (["docs", "!docs/keep"], "docs/other", True),            # "docs/keep" is not below docs/other
    (["docs", "!other/keep"], "docs", True),
    (["docs", "!*/keep"], "docs", False),                    # a wildcard exception might match
    (["docs", "!**/*.md"], "docs", False),
    (["docs", "!do*/x"], "docs", False),
    (["docs", "!d[a-z]cs/x"], "docs", False),
    (["docs", "!docsx/keep"], "docs", True),
    (["*", "!docs"], "docs", False),
    (["a", "!a"], "a", False),
])
def test_excludes_dir_entirely(patterns, directory, expected):
    assert Matcher(patterns).excludes_dir_entirely(directory) is expected


@pytest.mark.parametrize("patterns", [
    ["dir", "!dir/keep"],
    ["dir", "!*/keep*"],
    ["**", "!**/keep"],
    ["dir/**", "!dir/sub/keep"],
    ["dir", "!dir/[k]eep", "dir/keep/x"],
])
def test_excludes_dir_entirely_never_hides_an_included_path(patterns):
    m = Matcher(patterns)
    below = ["dir/keep", "dir/keep/x", "dir/sub/keep", "dir/sub/keep/y", "dir/other", "dir/sub/z"]
    for directory in ["dir", "dir/sub", "dir/keep"]:
        if m.excludes_dir_entirely(directory):
            hidden = [p for p in below if p.startswith(directory + "/") and not m.matches(p)]
            assert hidden == [], (directory, hidden)


# --- walking a context -----------------------------------------------------------------------

@pytest.fixture
def context(tmp_path):
    for rel in ["Dockerfile", ".dockerignore", "app.py", "README.md", ".env",
                "docs/guide.md", "docs/keep/notes.txt", "docs/keep/deep/x.txt",
                "node_modules/pkg/index.js", "src/main.go", "src/util/str.go",
                "my dir/ünï code.txt"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    outside.mkdir()
    (outside / "secret").write_text("s")
    os.symlink(outside, tmp_path / "link-to-dir")
    os.symlink("src/main.go", tmp_path / "link-to-file")
    os.symlink("missing", tmp_path / "dangling")
    return tmp_path


def test_walk_context_without_patterns_lists_everything_and_does_not_follow_symlinks(context):
    paths = walk_context(str(context), Matcher([]))
    assert paths == sorted(paths)
    assert "link-to-dir" in paths and "link-to-file" in paths and "dangling" in paths
    assert not any(p.startswith("link-to-dir/") for p in paths)
    assert "my dir/ünï code.txt" in paths and "docs/keep/deep" in paths


def test_walk_context_applies_patterns_and_exceptions(context):
    matcher = Matcher(read_patterns("node_modules\n*.md\ndocs\n!docs/keep\n.env\nlink-to-*\n"))
    assert walk_context(str(context), matcher) == [
        ".dockerignore", "Dockerfile", "app.py", "dangling",
        "docs/keep", "docs/keep/deep", "docs/keep/deep/x.txt", "docs/keep/notes.txt",
        "my dir", "my dir/ünï code.txt",
        "src", "src/main.go", "src/util", "src/util/str.go",
    ]


def test_walk_context_always_sends_dockerfile_and_dockerignore(context):
    paths = walk_context(str(context), Matcher(["*"]))
    assert paths == [".dockerignore", "Dockerfile"]


def test_walk_context_keeps_a_custom_dockerfile_inside_an_excluded_directory(context):
    (context / "build").mkdir()
    (context / "build" / "app.Dockerfile").write_text("FROM scratch\n")
    (context / "build" / "other").write_text("x")
    paths = walk_context(str(context), Matcher(["build", "Dockerfile"]), dockerfile="build/app.Dockerfile")
    assert "build/app.Dockerfile" in paths
    assert "build/other" not in paths and "build" not in paths
    assert "Dockerfile" not in paths      # excluded: it is not the Dockerfile in use


def test_walk_context_skips_excluded_directories_without_exceptions(context, monkeypatch):
    seen = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: (seen.append(os.fspath(p)), real(p))[1])
    walk_context(str(context), Matcher(["node_modules", "docs", "!docs/keep"]))
    assert not any(p.endswith("node_modules") for p in seen)
    assert any(p.endswith("docs") for p in seen)
