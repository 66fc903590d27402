#!/bin/sh
# The layers of src/ (README "Layout"): a file may include the headers of
# its own layer and of the layers before it in this list, never after.
# Prints each upward include and exits 1 if there is one.
#   scripts/check-layers.sh        (from the repository root)
set -eu
order="core config io state stages runtime eval cli"
rank() {
        _i=0
        for _l in $order; do
                [ "$_l" = "$1" ] && { echo $_i; return; }
                _i=$((_i + 1))
        done
        echo 99
}
# the layer of a header: where its .c lives (headers without one are core)
layer_of() {
        for _m in $order; do
                [ -e "src/$_m/$1.c" ] && { echo "$_m"; return; }
        done
        case $1 in stage) echo stages ;; *) echo core ;; esac
}
bad=0
check() { # file, its layer
        _me=$(rank "$2")
        for _h in $(sed -n 's|^#include "recstream/\([a-z_]*\)\.h".*|\1|p' "$1"); do
                _hl=$(layer_of "$_h")
                if [ "$(rank "$_hl")" -gt "$_me" ]; then
                        echo "$1 ($2) includes recstream/$_h.h ($_hl)"
                        bad=1
                fi
        done
}
for layer in $order; do
        for f in src/$layer/*.c src/$layer/*.h; do
                [ -e "$f" ] && check "$f" "$layer"
        done
done
for f in include/recstream/*.h; do
        check "$f" "$(layer_of "$(basename "$f" .h)")"
done
[ $bad = 0 ] && echo "layers: no include runs upward"
exit $bad
