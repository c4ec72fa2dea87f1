#!/usr/bin/env bash
# Re-vendor the third-party web libraries served at /inc/ and /api/ from their released npm
# packages. The results are committed (resources/inc, resources/api), so ./start.sh needs no
# network and no build step; run this only to upgrade a library, then review `git diff`.
# Needs: npm (only `npm pack`, nothing is installed), tar, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
INC=$ROOT/resources/inc
API=$ROOT/resources/api

JQUERY=3.7.1 BOOTSTRAP=4.6.2 POPPER=1.16.1 JQUERYUI=1.13.3 DATATABLES=1.13.11 SWAGGER=5.35.0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for spec in jquery@$JQUERY bootstrap@$BOOTSTRAP popper.js@$POPPER jquery-ui@$JQUERYUI \
            datatables.net@$DATATABLES datatables.net-jqui@$DATATABLES swagger-ui-dist@$SWAGGER; do
  tgz=$(npm pack --silent "$spec")
  name=${spec%@*}
  mkdir -p "$name" && tar xzf "$tgz" -C "$name" --strip-components=1
done

LIC=$INC/licenses
mkdir -p "$INC/jquery-ui/images" "$INC/DataTables/js" "$INC/DataTables/css" "$INC/DataTables/images" "$LIC"

# jQuery
cp jquery/dist/jquery.min.js "$INC/jquery.min.js"
cp jquery/LICENSE.txt "$LIC/jquery.LICENSE.txt"
# Bootstrap 4 (app pages use Bootstrap 4 markup) and Popper 1 (Bootstrap 4's tooltip engine)
cp bootstrap/dist/css/bootstrap.min.css "$INC/bootstrap.min.css"
cp bootstrap/dist/js/bootstrap.min.js "$INC/bootstrap.min.js"
cp bootstrap/LICENSE "$LIC/bootstrap.LICENSE.txt"
cp popper.js/dist/umd/popper.min.js "$INC/popper.min.js"
python3 - "$LIC/popper.js.LICENSE.txt" <<'PY'
import sys
open(sys.argv[1], "w").write("""popper.js 1.16.1 -- MIT License (declared in its package.json and file header)

Copyright (C) Federico Zivolo 2020

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
""")
PY
# jQuery UI: full build, the base theme, and the structure-only stylesheet sFlow-RT apps link
cp jquery-ui/dist/jquery-ui.min.js "$INC/jquery-ui/jquery-ui.min.js"
cp jquery-ui/themes/base/theme.css "$INC/jquery-ui/jquery-ui.theme.css"
cp jquery-ui/themes/base/images/*.png "$INC/jquery-ui/images/"
python3 - jquery-ui/themes/base "$INC/jquery-ui/jquery-ui.structure.min.css" <<'PY'
import re, sys, pathlib
base = pathlib.Path(sys.argv[1])
names = re.findall(r'@import url\("([^"]+)"\)', (base / "base.css").read_text())
out = ["/*! jQuery UI CSS Framework structure (base.css imports, concatenated) | (c) OpenJS Foundation and other contributors | MIT, https://jquery.org/license */"]
for name in names:
    css = re.sub(r"/\*.*?\*/", "", (base / name).read_text(), flags=re.S)
    out.append(re.sub(r"\s*\n\s*", "\n", css).strip())
pathlib.Path(sys.argv[2]).write_text("\n".join(out) + "\n")
PY
cp jquery-ui/LICENSE.txt "$LIC/jquery-ui.LICENSE.txt"
# jQuery UI's widget factory alone: Bootstrap app pages load /inc/jquery.widget.js without jQuery UI
{ echo "/*! jQuery UI widget factory $JQUERYUI (ui/version.js + ui/widget.js) | (c) OpenJS Foundation and other contributors | MIT, https://jquery.org/license */"
  cat jquery-ui/ui/version.js jquery-ui/ui/widget.js; } > "$INC/jquery.widget.js"
# DataTables 1.x with its jQuery UI styling
cp datatables.net/js/jquery.dataTables.min.js "$INC/DataTables/js/"
cp datatables.net-jqui/js/dataTables.jqueryui.min.js "$INC/DataTables/js/"
cp datatables.net-jqui/css/dataTables.jqueryui.css datatables.net-jqui/css/dataTables.jqueryui.min.css "$INC/DataTables/css/"
cp datatables.net-jqui/images/sort_*.png "$INC/DataTables/images/"
cp datatables.net/License.txt "$LIC/DataTables.LICENSE.txt"
# Swagger UI for the API explorer
cp swagger-ui-dist/swagger-ui-bundle.js swagger-ui-dist/swagger-ui.css "$API/"
cp swagger-ui-dist/LICENSE "$LIC/swagger-ui.LICENSE.txt"
cp swagger-ui-dist/NOTICE "$LIC/swagger-ui.NOTICE.txt"
cp swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt "$LIC/swagger-ui-bundle.third-party.txt"
echo "vendored: jquery $JQUERY, bootstrap $BOOTSTRAP, popper.js $POPPER, jquery-ui $JQUERYUI, datatables.net $DATATABLES, swagger-ui-dist $SWAGGER"
