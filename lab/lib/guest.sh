# shellcheck shell=bash
# The guest-agent monitor's test guest (`lab/lab power guest`, built by `power up`): a disk-less
# initramfs with busybox and the host's qemu-ga, booted straight from a Debian kernel under TCG.
# Its init loads the virtio-serial modules, starts qemu-ga on the port named
# org.qemu.guest_agent.0 and idles; the tests stop the agent through its own guest-exec.
# Built once into $CACHE/guest-<hash>/ (vmlinuz, initramfs.cpio.gz) from Debian packages
# (`apt-get download` + `dpkg-deb -x`: nothing is installed for the kernel).

GUEST_PACKAGES=(qemu-guest-agent busybox-static cpio)
GUEST_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console)

# The kernel package the metapackage linux-image-amd64 points at today.
guest_kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1
}

# The guest's directory: one per (this file, kernel package, qemu-ga version).
guest_dir() {
  local key
  key=$( (cat "$LAB_DIR/lib/guest.sh"; guest_kernel_package; dpkg-query -W -f='${Version}' qemu-guest-agent busybox-static 2>/dev/null) |
    sha256sum | cut -c1-12)
  echo "$CACHE/guest-$key"
}

# The directory the last build_guest made or found, for `power status` (which must stay
# fast: computing guest_dir asks apt-cache); empty before the first.
GUEST_CURRENT=$CACHE/guest-current
current_guest() { cat "$GUEST_CURRENT" 2>/dev/null || true; }

# The guest's init: what runs as PID 1 in the initramfs.
guest_init() {
  cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko; done
# No udev: the agent's port is found by its name in sysfs.
for p in /sys/class/virtio-ports/*; do
  [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && GA=/dev/${p##*/}
done
if [ -n "${GA:-}" ]; then
  /usr/sbin/qemu-ga -m virtio-serial -p "$GA" -t /run &
  echo "guest: qemu-ga started on $GA"
else
  echo "guest: no org.qemu.guest_agent.0 port"
fi
while :; do sleep 3600; done
INIT
}

build_guest() {
  local dir tmp kpkg kver mods m root
  dir=$(guest_dir)
  if [[ -f $dir/initramfs.cpio.gz && -f $dir/vmlinuz ]]; then
    echo "$dir" >"$GUEST_CURRENT"
    return
  fi
  for m in "${GUEST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$m" 2>/dev/null | grep -q 'ok installed' ||
      die "the test guest needs the Debian package $m (apt-get install $m)"
  done
  kpkg=$(guest_kernel_package)
  [[ -n $kpkg ]] || die "apt-cache knows no linux-image-amd64 (apt-get update?)"
  log "building the test guest ($kpkg, qemu-ga $(dpkg-query -W -f='${Version}' qemu-guest-agent))"
  tmp=$(mktemp -d "$CACHE/guest-build.XXXXXX")
  (
    set -e
    cd "$tmp"
    apt-get download -q "$kpkg" >"$tmp/download.log" 2>&1
    dpkg-deb -x ./*.deb kernel
    rm -f ./*.deb
    kver=$(ls kernel/lib/modules)
    mods=kernel/lib/modules/$kver
    root=$tmp/root
    mkdir -p "$root"/{bin,proc,sys,dev,run,tmp,lib/modules,usr/sbin}
    cp /bin/busybox "$root/bin/busybox"
    for m in "${GUEST_MODULES[@]}"; do
      cp "$(find "$mods" -name "$m.ko*" | head -1)" "$root/lib/modules/$m.ko"
      echo "$m" >>"$root/lib/modules/order"
    done
    # qemu-ga and the shared libraries it links, at the same paths.
    cp /usr/sbin/qemu-ga "$root/usr/sbin/"
    for m in $(ldd /usr/sbin/qemu-ga | grep -o '/[^ ]*'); do
      mkdir -p "$root$(dirname "$m")"
      cp -L "$m" "$root$m"
    done
    guest_init >"$root/init"
    chmod 755 "$root/init"
    (cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >initramfs.cpio.gz
    cp "kernel/boot/vmlinuz-$kver" vmlinuz
    rm -rf kernel root download.log
  ) || { rm -rf "$tmp"; die "building the test guest failed (in $tmp)"; }
  chmod 755 "$tmp"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  echo "$dir" >"$GUEST_CURRENT"
  log "test guest built: $dir"
}
