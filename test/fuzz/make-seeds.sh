#!/usr/bin/env bash
# =============================================================================
# test/fuzz/make-seeds.sh -- writes the seed corpora test/fuzz/corpus/<target>/
# from the answer shapes MTN really sends (/work/shared/momo-api/README.md,
# spec/*.json, and the local sandbox's answers).  The files are committed;
# run this only to change them.
#
# Corpora of json and callback: bare bodies (callback: also query strings).  Corpora of answer and token: a 2-byte header
# (fuzz_support.c, fuzz_take_header) then the body:
#   byte 0 = op (0 request to pay, 1 status check) | status index << 1
#   index: 0 none, 1 200, 2 202, 3 400, 4 401, 5 404, 6 409, 7 429, 8 500,
#   9 503, 10 "other": status 100 + byte 1 (+256 with 0x20 set in byte 0)
# =============================================================================
set -euo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/corpus
rm -rf "$DIR"
mkdir -p "$DIR/json" "$DIR/answer" "$DIR/token" "$DIR/callback"

TOKEN='eyJ0eXAiOiJKV1QiLCJhbGciOiJSMjU2In0.eyJjbGllbnRJZCI6IjVmOWIyYzdlLTNjMWEtNGQyZS05ZjEwLTBhMWIyYzNkNGU1ZiIsImV4cGlyZXMiOiIyMDI1LTA1LTIwVDEwOjAwOjAwIn0.c2lnbmF0dXJl'
PAYER='"payer":{"partyIdType":"MSISDN","partyId":"46733123451"}'
TERMS='"externalId":"INV-42","amount":"1500","currency":"EUR",'"$PAYER"',"payerMessage":"Invoice 42","payeeNote":"Shop"'

# name -> body
declare -A B=(
    [token]='{"access_token":"'"$TOKEN"'","token_type":"access_token","expires_in":3600}'
    [status-successful]='{"financialTransactionId":"5407693314",'"$TERMS"',"status":"SUCCESSFUL"}'
    [status-failed-string]='{'"$TERMS"',"status":"FAILED","reason":"APPROVAL_REJECTED"}'
    [status-failed-object]='{'"$TERMS"',"status":"FAILED","reason":{"code":"PAYER_NOT_FOUND","message":"Payer not found"}}'
    [status-pending]='{'"$TERMS"',"status":"PENDING"}'
    [invoice-pending]='{"invoiceId":"4567890123","paymentReference":"PR4567890123","externalId":"INV-44","amount":"100","currency":"EUR","expiryDateTime":"2026-12-31:T10:00:00","intendedPayer":{"partyIdType":"MSISDN","partyId":"46733123454"},"status":"PENDING"}'
    [status-created]='{"externalId":"INV-43","amount":"100","currency":"EUR",'"$PAYER"',"status":"CREATED"}'
    [err-409]='{"code":"RESOURCE_ALREADY_EXIST","message":"Duplicated reference id. Creation of resource failed."}'
    [err-404]='{"code":"RESOURCE_NOT_FOUND","message":"Requested resource was not found."}'
    [err-500-env]='{"code":"NOT_ALLOWED_TARGET_ENVIRONMENT","message":"Access to target environment is forbidden"}'
    [err-500-currency]='{"code":"INVALID_CURRENCY","message":"Currency not supported."}'
    [err-500-internal]='{"code":"INTERNAL_PROCESSING_ERROR","message":"An internal error occurred while processing."}'
    [err-503]='{"code":"SERVICE_UNAVAILABLE","message":"Service unavailable, please try again later."}'
    [azure-401]='{"statusCode":401,"message":"Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}'
    [azure-404]='{"statusCode":404,"message":"Resource not found"}'
    [azure-429]='{"statusCode":429,"message":"Rate limit is exceeded. Try again in 1 seconds."}'
    [invoice-failed]='{"referenceId":"7d1f9b8e-3c1a-4d2e-9f10-0a1b2c3d4e5f","externalId":"INV-44","amount":"100","currency":"EUR","status":"FAILED","paymentReference":"8812345","invoiceId":"INV0001","errorReason":{"code":"EXPIRED","message":"Invoice expired"}}'
    [preapproval-date]='{"payer":{"partyIdType":"MSISDN","partyId":"46733123451"},"payerCurrency":"EUR","status":"SUCCESSFUL","expirationDateTime":"2027-06-01T10:00:00.000+02:00"}'
    [preapproval-number]='{"payer":{"partyIdType":"MSISDN","partyId":"46733123451"},"payerCurrency":"EUR","status":"SUCCESSFUL","expirationDateTime":1811671200000}'
    [login-failed]='{"error":"login_failed"}'
    [empty]=''
)

# put DIR NAME HEADER-OCTAL-ESCAPES BODY-NAME
put() {
    printf "$3" > "$1/$2"
    printf '%s' "${B[$4]}" >> "$1/$2"
}

for name in "${!B[@]}"; do
    printf '%s' "${B[$name]}" > "$DIR/json/$name"
done

# answer: header byte 0 = op | index<<1 (octal escapes), byte 1 unused unless "other"
A=$DIR/answer
put "$A" create-202-empty        '\004\000' empty
put "$A" create-409              '\014\000' err-409
put "$A" create-400-empty        '\006\000' empty
put "$A" create-401-empty        '\010\000' empty
put "$A" create-401-key          '\010\000' azure-401
put "$A" create-429              '\016\000' azure-429
put "$A" create-500-env          '\020\000' err-500-env
put "$A" create-500-currency     '\020\000' err-500-currency
put "$A" create-500-internal     '\020\000' err-500-internal
put "$A" create-500-empty        '\020\000' empty
put "$A" create-503              '\022\000' err-503
put "$A" create-415-other        '\064\073' empty          # other (0x20 set): 100 + 59 + 256 = 415
put "$A" create-403-other        '\064\057' azure-401      # 100 + 47 + 256 = 403
put "$A" status-502-other        '\065\222' empty          # 100 + 146 + 256 = 502
put "$A" status-200-other-op     '\024\144' status-successful  # request to pay answered 200 (100 + 100)
put "$A" status-200-successful   '\003\000' status-successful
put "$A" status-200-failed-str   '\003\000' status-failed-string
put "$A" status-200-invoice-pending '\003\000' invoice-pending
put "$A" status-200-failed-obj   '\003\000' status-failed-object
put "$A" status-200-pending      '\003\000' status-pending
put "$A" status-200-created      '\003\000' status-created
put "$A" status-200-invoice-failed '\003\000' invoice-failed
put "$A" status-200-preapproval-date '\003\000' preapproval-date
put "$A" status-200-preapproval-number '\003\000' preapproval-number
put "$A" status-404              '\013\000' err-404
put "$A" status-404-gateway      '\013\000' azure-404
put "$A" status-401-empty        '\011\000' empty
put "$A" status-500-empty        '\021\000' empty
put "$A" status-503              '\023\000' err-503
put "$A" status-none             '\001\000' empty

# token: the op bit is unused
T=$DIR/token
put "$T" 200-token               '\002\000' token
put "$T" 401-empty               '\010\000' empty
put "$T" 401-key                 '\010\000' azure-401
put "$T" 500-login-failed        '\020\000' login-failed
put "$T" 500-empty               '\020\000' empty
put "$T" 503                     '\022\000' err-503
put "$T" 429                     '\016\000' azure-429
put "$T" none                    '\000\000' empty
# callback: the body of MTN's callback (a status answer without the reference id)
for name in status-successful status-failed-string status-failed-object status-pending empty; do
    printf '%s' "${B[$name]}" > "$DIR/callback/$name"
done
printf '%s' '{"financialTransactionId":"5407693314","externalId":"INV-\u00e9\n42","status":"SUCCESSFUL"}' \
    > "$DIR/callback/escapes"
# ... and query strings of callback URLs (each input is read as both)
REF=7d1f9b8e-3c1a-4d2e-9f10-0a1b2c3d4e5f
SIG=3f1c0a5e9b7d2c4f6a8e0b1d3c5f7a9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a
printf '%s' "momo_ref=$REF&momo_sig=$SIG" > "$DIR/callback/query"
printf '%s' "?momo_sig=$SIG&x=1&momo_ref=$REF" > "$DIR/callback/query-reordered"
printf '%s' "momo_ref=$REF&momo_ref=$REF&momo_sig=$SIG&momo_sig=" > "$DIR/callback/query-repeated"

echo "make-seeds: wrote $(find "$DIR" -type f | wc -l) seeds under $DIR"
