# Cross-compiles owl for 64-bit Arm Linux on a Debian x86-64 host, against the arm64 libraries
# installed with multiarch (dpkg --add-architecture arm64): see scripts/test-arm64.
#   cmake -S . -B build/arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# Tests run under qemu-aarch64 (user mode): CMAKE_CROSSCOMPILING_EMULATOR is what CMake puts in
# front of the test binary, for gtest_discover_tests at build time and for ctest.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Debian's multiarch layout: the arm64 packages' libraries, CMake packages and .pc files live in
# /usr/lib/aarch64-linux-gnu, next to the host's; headers in /usr/include are shared.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# pkg-config must see only the arm64 .pc files (and the architecture-independent ones).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
unset(ENV{PKG_CONFIG_PATH})

# No -L /usr/aarch64-linux-gnu (QEMU_LD_PREFIX): the binaries run with the multiarch libc6:arm64
# in /lib, whose loader /lib/ld-linux-aarch64.so.1 matches it. The cross toolchain's loader is
# another glibc build (libc6-arm64-cross), and with the multiarch libc.so.6 that ld.so.cache
# finds, pthread_create spins forever.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
