"""Write notebooks/03_layers.ipynb, without outputs: ``python notebooks/src/make_03.py``.

The notebook is generated so that git only ever holds its source; edit this
file, not the .ipynb, and run it again.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import code, md, write  # noqa: E402

cells = [
    md("""
    # 03 · Layers: overlayfs by hand, an image's layer stack, shared layers

    An image is a stack of read-only layers. A container adds one thin writable layer on top.
    The Linux kernel's **overlay filesystem** (overlayfs) makes the stack look like one directory.
    In this notebook you build such a stack by hand, then look at real images.

    **You will learn to**

    1. mount an overlay from a *lower*, an *upper* and a *work* directory, and read the *merged* view;
    2. explain **copy-up**: changing a lower file writes a new copy into the upper directory;
    3. explain **whiteouts**: deleting a lower file leaves a marker (a 0/0 character device) in the upper directory;
    4. read an image's layer stack, and see two images **share** the layers they have in common — and the disk this saves.

    Everything runs on the real Linux kernel (as root) and on minidocker's simulated kernel.
    The first cell tells you which one you have.
    """),

    code("""
    import os
    import stat
    import tempfile

    import minidocker
    from minidocker import lesson, viz
    from minidocker.build.builder import BuildOptions
    from minidocker.kernel.base import MNT_DETACH, OVERLAY_OPAQUE_XATTR

    e = lesson.engine()          # the engine: image store, snapshots and the kernel, for one state root
    base = e.bootstrap("busybox")  # a tiny base image, made offline
    print("base image:", base.short_id, "with", len(base.manifest.layers), "layer")
    """),

    md("""
    ## Part 1 · overlayfs by hand

    An overlay mount needs four directories:

    * **lower** — read-only content (an image layer). There may be several, stacked.
    * **upper** — where every change goes (a container's writable layer).
    * **work** — a scratch directory the kernel needs to make changes atomically. It must be on the same filesystem as *upper*.
    * **merged** — the mount point: the union of upper over lower.

    We make them under minidocker's state root and put a few files in *lower*.
    """),

    code("""
    lab = tempfile.mkdtemp(prefix="overlay-lab-", dir=e.store.root)
    lower, upper, work, merged = (os.path.join(lab, name) for name in ("lower", "upper", "work", "merged"))
    for d in (lower, upper, work, merged):
        os.mkdir(d)

    def put(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    put(f"{lower}/greeting.txt", "hello from the lower layer\\n")
    put(f"{lower}/notes.txt", "a file we will delete\\n")
    put(f"{lower}/cache/1.tmp", "old cache entry\\n")
    put(f"{lower}/cache/2.tmp", "old cache entry\\n")
    print("lower:", sorted(os.listdir(lower)), " upper:", sorted(os.listdir(upper)))
    """),

    md("""
    Now one kernel call: `mount("overlay", merged, "overlay", 0, "lowerdir=…,upperdir=…,workdir=…")`.
    `minidocker.trace()` records the calls made through the kernel it wraps, with the reason for each.
    """),

    code("""
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    with minidocker.trace(e.kernel) as t:
        t.kernel.mount("overlay", merged, "overlay", 0, options)
    lesson.steps(t)
    """),

    md("""
    ### Reading the merged directory: one helper for both kernels

    On the **real kernel** the merged directory is a real mount: Python's `os` module reads it like any directory.

    On the **simulated kernel** the mount exists only *inside the simulator*: it is recorded in the
    simulator's mount table, not in your machine's. To your computer's `os`, `merged` is still an empty
    directory. So on the simulator we read and write through `e.kernel.view(merged)`, which resolves
    paths through the simulated mounts, the way a process inside the simulator would.

    The helper below picks the right way once, so the rest of the notebook reads the same on both kernels.
    """),

    code("""
    class Merged:
        \"\"\"The merged view of an overlay: real files on Linux, the simulator's view otherwise.\"\"\"

        def __init__(self, path):
            self.path = path
            self.view = e.kernel.view(path) if e.kernel.simulated else None

        def ls(self, sub="."):
            return sorted(self.view.listdir(sub) if self.view else os.listdir(os.path.join(self.path, sub)))

        def read(self, name):
            if self.view:
                return self.view.read(name).decode()
            with open(os.path.join(self.path, name)) as f:
                return f.read()

        def write(self, name, text):
            if self.view:
                self.view.write(name, text.encode())
            else:
                with open(os.path.join(self.path, name), "w") as f:
                    f.write(text)

        def rm(self, name):
            (self.view.unlink if self.view else lambda n: os.unlink(os.path.join(self.path, n)))(name)

        def rmdir(self, name):
            (self.view.rmdir if self.view else lambda n: os.rmdir(os.path.join(self.path, n)))(name)

        def mkdir(self, name):
            (self.view.mkdir if self.view else lambda n: os.mkdir(os.path.join(self.path, n)))(name)


    def kind(path):
        \"\"\"What a file in a layer directory is, as the kernel reports it (lstat).\"\"\"
        st = e.kernel.lstat(path)   # on the simulator: the simulated owner/device, not the host's
        if stat.S_ISCHR(st.st_mode):
            return f"character device {os.major(st.st_rdev)}/{os.minor(st.st_rdev)}"
        return "directory" if stat.S_ISDIR(st.st_mode) else f"file, {st.st_size} bytes"


    m = Merged(merged)
    print("merged:", m.ls())
    print("upper: ", sorted(os.listdir(upper)), "(nothing changed yet)")
    """),

    md("""
    ### Copy-up: change a file that lives in the lower layer

    The lower layer is read-only. So the kernel first **copies the file up** into *upper*, then changes the copy.
    From now on the merged view shows the upper copy; the lower file is untouched.
    This is why a container never changes its image, and why changing one byte of a large file costs a copy of the whole file.
    """),

    code("""
    m.write("greeting.txt", "hello, changed in the merged view\\n")
    print("merged:", m.read("greeting.txt"), end="")
    print("upper: ", open(f"{upper}/greeting.txt").read(), end="")
    print("lower: ", open(f"{lower}/greeting.txt").read(), end="")
    """),

    md("""
    ### Whiteouts: delete a file that lives in the lower layer

    The kernel cannot delete it from *lower* (read-only). Instead it puts a **whiteout** into *upper*:
    a character device with device number 0/0 and the same name. The merged view hides any name that has a whiteout.
    In an image layer (a tar file) the same marker is stored as a file named `.wh.<name>`.
    """),

    code("""
    m.rm("notes.txt")
    print("merged:", m.ls())
    print("upper/notes.txt is a", kind(f"{upper}/notes.txt"))
    print("lower still has:", sorted(os.listdir(lower)))
    """),

    md("""
    ### Opaque directories: delete a directory, then make it again

    Removing `cache/` and creating a new `cache/` must not bring the old entries back.
    Whiteouts for each entry would work, but overlayfs does better: it marks the new upper directory
    **opaque** with the extended attribute `trusted.overlay.opaque = y`, which means "do not look below me".
    """),

    code("""
    for name in m.ls("cache"):
        m.rm(f"cache/{name}")
    m.rmdir("cache")
    m.mkdir("cache")
    m.write("cache/new.tmp", "fresh\\n")
    print("merged cache/:", m.ls("cache"))
    print("upper cache/ is a", kind(f"{upper}/cache"), "with",
          OVERLAY_OPAQUE_XATTR, "=", e.kernel.getxattr(f"{upper}/cache", OVERLAY_OPAQUE_XATTR))
    """),

    md("""
    Unmount. `MNT_DETACH` detaches the mount at once, even if something still uses it.
    The upper directory keeps every change: it *is* the new layer. An image build turns such an
    upper directory into a tar file — one layer.
    """),

    code("""
    with minidocker.trace(e.kernel) as t:
        t.kernel.umount(merged, MNT_DETACH)
    lesson.steps(t)
    print("upper after unmount:", sorted(os.listdir(upper)))
    """),

    md("""
    ## Break it · write to a stack that has no upper layer

    An image's layers are mounted **without** an upper directory: several lowers, stacked right to left.
    Let us stack our upper directory over the lower one as *two lowers* — exactly what happens when the
    changes above become a layer of a new image. Reading works; writing must fail with
    `EROFS` (read-only file system), on both kernels.
    """),

    code("""
    import errno

    frozen = os.path.join(lab, "frozen")
    os.mkdir(frozen)
    e.kernel.mount("overlay", frozen, "overlay", 0, f"lowerdir={upper}:{lower}")   # top first
    f = Merged(frozen)
    print("the two layers, merged:", f.ls(), "| cache/:", f.ls("cache"))
    try:
        f.write("greeting.txt", "try to change an image layer\\n")
        write_error = None
    except OSError as err:
        write_error = err.errno
        print("write refused:", errno.errorcode[err.errno], os.strerror(err.errno))
    e.kernel.umount(frozen, MNT_DETACH)
    """),

    md("""
    Try this too: remove `workdir=…` from the options of the first mount. Linux refuses a writable overlay
    without a work directory (`EINVAL`), and so does the simulator.
    """),

    code("""
    scratch = os.path.join(lab, "scratch")
    os.mkdir(scratch)
    try:
        e.kernel.mount("overlay", scratch, "overlay", 0, f"lowerdir={lower},upperdir={upper}")
        e.kernel.umount(scratch, MNT_DETACH)
        no_workdir_error = None
    except OSError as err:
        no_workdir_error = err.errno
        print("mount refused:", errno.errorcode[err.errno])
    """),

    md("""
    ## Part 2 · an image's layer stack

    Two small recipes start from the same base and the same first step, then differ.
    The second one also deletes a file of the base, so its layer must carry a whiteout.
    """),

    code("""
    def recipe(name, dockerfile):
        ctx = tempfile.mkdtemp(prefix=f"{name}-")
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(dockerfile)
        return ctx

    COMMON = '''FROM busybox
    RUN mkdir -p /opt/tools && echo "a tool both images need" > /opt/tools/README && dd if=/dev/zero of=/opt/tools/blob bs=1k count=64 2>/dev/null
    '''
    ctx_a = recipe("app-a", COMMON + 'RUN echo "I am app A" > /app-a.txt\\nCMD ["cat", "/app-a.txt"]\\n')
    ctx_b = recipe("app-b", COMMON + 'RUN echo "I am app B" > /app-b.txt && rm /opt/tools/README\\nCMD ["cat", "/app-b.txt"]\\n')
    print(open(os.path.join(ctx_b, "Dockerfile")).read())
    """),

    code("""
    image_a = e.build(ctx_a, BuildOptions(tags=["app-a"], quiet=True))
    print("app-a:", image_a.short_id, "with", len(image_a.manifest.layers), "layers")
    viz.image_layers(e, "app-a")
    """),

    md("""
    Read the diagram bottom up: the base layer, then one layer per `RUN`; `CMD` is metadata only (dashed, no layer).
    Now build app-b. Its first `RUN` is the very same step on the very same parent, so the build cache hands back
    the same layer.
    """),

    code("""
    image_b = e.build(ctx_b, BuildOptions(tags=["app-b"]))
    """),

    md("""
    app-b's own layer deletes `/opt/tools/README`, a file of a lower layer. Inside the layer's tar file the
    whiteout is an entry named `.wh.README`:
    """),

    code("""
    import tarfile

    top = image_b.manifest.layers[-1]
    with tarfile.open(fileobj=e.store.open_blob(top)) as tar:
        entries = tar.getnames()
    print(entries)
    """),

    md("""
    ### Two images, shared layers

    A layer is stored once, whoever uses it: both images point at the same blobs and, once unpacked,
    the same snapshot directories. The diagram draws each layer once and says how much sharing saves.
    """),

    code("""
    sharing = viz.shared_layers(e, ["app-a", "app-b"])
    sharing
    """),

    code("""
    data = sharing.data
    naive = sum(img.size for img in data.images)           # if each image stored all its layers
    stored = sum(layer.size for layer in data.layers)      # each layer once
    print(f"layers shared: {len(data.shared)}; two images as separate copies: {naive} bytes; "
          f"stored: {stored} bytes; saved: {data.saved} bytes")
    for row in e.disk_usage()[:2]:
        print(f"{row['Type']:16} {row['TotalCount']:>3} items  {row['Size']}")
    """),

    md("""
    ## Check yourself

    Answer each question before you run the cell below; the cell compares our answers with what the system did.

    1. After writing `greeting.txt` through the merged view, does the **lower** `greeting.txt` still say "hello from the lower layer"?
    2. What does the upper directory hold for the deleted `notes.txt`?
    3. Which extended attribute keeps the old `cache/1.tmp` from showing through the new `cache/`?
    4. Which error does a write to an overlay without an upper directory give?
    5. How many layers do app-a and app-b share, and which one of app-b's tar entries hides `/opt/tools/README`?
    """),

    code("""
    answers = {
        1: "yes",
        2: "character device 0/0",
        3: "trusted.overlay.opaque",
        4: "EROFS",
        5: (2, "opt/tools/.wh.README"),
    }
    lesson.check(open(f"{lower}/greeting.txt").read() == "hello from the lower layer\\n" and answers[1] == "yes",
                 "1. copy-up leaves the lower file unchanged")
    lesson.check(kind(f"{upper}/notes.txt") == answers[2], "2. a deleted lower file is a 0/0 character device in upper")
    lesson.check(e.kernel.getxattr(f"{upper}/cache", answers[3]) == b"y", "3. the new cache/ is opaque")
    lesson.check(errno.errorcode[write_error] == answers[4], "4. an overlay without an upper layer is read-only")
    lesson.check(no_workdir_error == errno.EINVAL, "(break it) a writable overlay needs a workdir")
    lesson.check((len(data.shared), answers[5][1] in entries) == (answers[5][0], True),
                 "5. the base and the common RUN layer are shared; the whiteout is .wh.README")
    """),

    md("""
    ## Summary

    * overlayfs merges read-only **lower** directories and one writable **upper** directory into a **merged** view; **work** is its scratch space.
    * Changing a lower file **copies it up** first; the lower layer never changes — so images stay intact and shareable.
    * Deleting a lower file leaves a **whiteout** (a 0/0 character device; `.wh.<name>` in a layer tar). A re-created directory is **opaque**.
    * An image is a stack of such layers; metadata steps (`CMD`, `ENV`) add none.
    * Identical steps on identical parents give the **same layer**, stored once: images that share a base share its bytes.

    Next: how the build cache decides which steps it can reuse (notebook 04).
    """),
]

if __name__ == "__main__":
    print(write("03_layers", cells))
