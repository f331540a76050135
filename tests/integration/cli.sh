#!/bin/sh
# The command line: help, version, exit codes, usage errors.
. "$(dirname "$0")/lib.sh"

expect_exit 0 "help" -- cz help
expect_grep "validate" "$T/out" "help lists verbs"
expect_exit 0 "--help" -- cz --help
expect_exit 0 "--version" -- cz --version
expect_grep "^cadenza [0-9]" "$T/out" "version format"
expect_exit 0 "version verb" -- cz version
expect_exit 2 "no verb" -- cz
expect_exit 2 "unknown verb" -- cz valdate
expect_grep "unknown command 'valdate'; did you mean 'validate'?" "$T/err" "did-you-mean for verbs"
expect_exit 2 "unknown global option" -- cz --bogus status
expect_grep "unknown option '--bogus'" "$T/err" "names the bad option"
for verb in validate import status sample; do
    expect_exit 0 "$verb --help" -- cz "$verb" --help
    expect_grep "usage: cadenza $verb" "$T/out" "$verb usage on stdout"
    expect_exit 0 "help $verb" -- cz help "$verb"
done
expect_exit 2 "import without kind" -- cz import
expect_exit 2 "import unknown kind" -- cz import creditors x.csv
expect_grep "unknown import kind 'creditors'" "$T/err" "names the bad kind"
expect_exit 2 "import without file" -- cz import debtors
expect_exit 2 "import bad --batch" -- cz import debtors --batch abc x.csv
expect_grep "invalid value 'abc' for --batch" "$T/err" "names the bad value"
expect_exit 3 "import missing file" -- cz import debtors "$T/nope.csv"
expect_grep "cannot open '$T/nope.csv'" "$T/err" "names the missing file"
expect_exit 3 "status without store" -- cz status
expect_grep "no store at" "$T/err" "status explains the missing store"
expect_exit 2 "status bad format" -- cz status --format xml
finish
