# tools/lib.sh — shared by tools/test, tools/demo and tools/fuzz (sourced, not run).
# Sets $root, runs the bootstrap once, and defines configure().

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
deps_prefix=$("$root/tools/bootstrap")

# configure DIR [meson options...]: set up DIR against the bootstrapped dependencies, or
# reconfigure it when it exists (so new module folders are picked up).
configure() {
  local dir=$1
  shift
  local args=(-Dpkg_config_path="$deps_prefix/lib/pkgconfig" "$@")
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "${args[@]}" >"$dir.configure.log" 2>&1
  else
    meson setup "$dir" "${args[@]}" >"$dir.configure.log" 2>&1
  fi || { tail -n 30 "$dir.configure.log"; echo "configure of $dir failed (log: $dir.configure.log)" >&2; return 1; }
}
