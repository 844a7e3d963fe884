# apt_install PACKAGE VERSION: installs Debian's PACKAGE at the pinned
# VERSION, reading the package lists first when this machine has none
# yet. Debian drops superseded versions of packages with frequent security
# updates (chromium), so when the pinned one is gone the current one is
# installed, and the version is printed either way.
apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "$1=$2" >/dev/null 2>&1; then
		apt-get update -qq >/dev/null
		if ! apt-get install -y --no-install-recommends "$1=$2" >/dev/null 2>&1; then
			echo "apt: $1=$2 is no longer served; installing the current $1"
			apt-get install -y --no-install-recommends "$1" >/dev/null
		fi
	fi
	echo "apt: $1 $(dpkg-query -W -f='${Version}' "$1")"
}
