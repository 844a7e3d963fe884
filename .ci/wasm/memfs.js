// A small in-memory file system for Go's js/wasm in a browser, installed as
// globalThis.fs before wasm_exec.js (which then keeps it). Go's testing
// package runs each Example with its standard output redirected to a
// temporary file (testing/run_example_wasm.go), which the stub file system
// of wasm_exec.js cannot create. Standard output and error go to the
// console, line by line, as in wasm_exec.js.
(() => {
  const enosys = (what) => Object.assign(new Error(what + ' not implemented'), { code: 'ENOSYS' });
  const fail = (code) => Object.assign(new Error(code), { code });
  const files = new Map(); // path -> { data: Uint8Array, size }
  const fds = new Map();   // fd -> { path, file }
  let nextFd = 100;
  const decoder = new TextDecoder('utf-8');
  let outputBuf = '';
  const C = { O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128, O_TRUNC: 512, O_APPEND: 1024, O_DIRECTORY: 65536 };
  const statOf = (f) => ({
    dev: 1, ino: 1, mode: 0o100600, nlink: 1, uid: 0, gid: 0, rdev: 0, size: f.size,
    blksize: 4096, blocks: Math.ceil(f.size / 512), atimeMs: 0, mtimeMs: 0, ctimeMs: 0,
    isDirectory: () => false,
  });
  const grow = (f, n) => {
    if (n <= f.data.length) return;
    const d = new Uint8Array(Math.max(n, 2 * f.data.length));
    d.set(f.data.subarray(0, f.size));
    f.data = d;
  };
  globalThis.fs = {
    constants: C,
    writeSync(fd, buf) {
      if (fd === 1 || fd === 2) {
        outputBuf += decoder.decode(buf);
        const nl = outputBuf.lastIndexOf('\n');
        if (nl !== -1) {
          console.log(outputBuf.substring(0, nl));
          outputBuf = outputBuf.substring(nl + 1);
        }
        return buf.length;
      }
      const h = fds.get(fd);
      if (!h) throw fail('EBADF');
      return this._pwrite(h, buf, h.pos ?? h.file.size);
    },
    _pwrite(h, buf, pos) {
      grow(h.file, pos + buf.length);
      h.file.data.set(buf, pos);
      h.file.size = Math.max(h.file.size, pos + buf.length);
      h.pos = pos + buf.length;
      return buf.length;
    },
    write(fd, buf, offset, length, position, cb) {
      try {
        const chunk = buf.subarray(offset, offset + length);
        if (position === null || fd === 1 || fd === 2) {
          cb(null, this.writeSync(fd, chunk));
        } else {
          const h = fds.get(fd);
          if (!h) throw fail('EBADF');
          cb(null, this._pwrite(h, chunk, position));
        }
      } catch (e) { cb(e); }
    },
    read(fd, buf, offset, length, position, cb) {
      const h = fds.get(fd);
      if (!h) { cb(fail('EBADF')); return; }
      const pos = position ?? h.pos ?? 0;
      const n = Math.max(0, Math.min(length, h.file.size - pos));
      buf.set(h.file.data.subarray(pos, pos + n), offset);
      h.pos = pos + n;
      cb(null, n);
    },
    open(path, flags, mode, cb) {
      let f = files.get(path);
      if (f && (flags & C.O_CREAT) && (flags & C.O_EXCL)) { cb(fail('EEXIST')); return; }
      if (!f) {
        if (!(flags & C.O_CREAT)) { cb(fail('ENOENT')); return; }
        f = { data: new Uint8Array(4096), size: 0 };
        files.set(path, f);
      }
      if (flags & C.O_TRUNC) f.size = 0;
      const fd = nextFd++;
      fds.set(fd, { path, file: f, pos: 0 });
      cb(null, fd);
    },
    close(fd, cb) { fds.delete(fd); cb(null); },
    fstat(fd, cb) {
      const h = fds.get(fd);
      if (!h) { cb(fail('EBADF')); return; }
      cb(null, statOf(h.file));
    },
    stat(path, cb) { const f = files.get(path); f ? cb(null, statOf(f)) : cb(fail('ENOENT')); },
    lstat(path, cb) { this.stat(path, cb); },
    unlink(path, cb) { files.delete(path) ? cb(null) : cb(fail('ENOENT')); },
    fsync(fd, cb) { cb(null); },
    chmod(path, mode, cb) { cb(enosys('chmod')); },
    chown(path, uid, gid, cb) { cb(enosys('chown')); },
    fchmod(fd, mode, cb) { cb(enosys('fchmod')); },
    fchown(fd, uid, gid, cb) { cb(enosys('fchown')); },
    ftruncate(fd, length, cb) { cb(enosys('ftruncate')); },
    lchown(path, uid, gid, cb) { cb(enosys('lchown')); },
    link(path, link, cb) { cb(enosys('link')); },
    mkdir(path, perm, cb) { cb(enosys('mkdir')); },
    readdir(path, cb) { cb(enosys('readdir')); },
    readlink(path, cb) { cb(enosys('readlink')); },
    rename(from, to, cb) { cb(enosys('rename')); },
    rmdir(path, cb) { cb(enosys('rmdir')); },
    symlink(path, link, cb) { cb(enosys('symlink')); },
    truncate(path, length, cb) { cb(enosys('truncate')); },
    utimes(path, atime, mtime, cb) { cb(enosys('utimes')); },
  };
})();
