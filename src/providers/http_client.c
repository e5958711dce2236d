#include "providers/http_client.h"

#include <curl/curl.h>

#define CONNECT_TIMEOUT_MS 2000L

void http_client_global_init(void)
{
    PASSERT(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, data, size * n) ? size * n : 0;
}

enum perr_code http_client_call(const struct http_call *call, struct http_result *res,
                                struct perr *err)
{
    res->status = 0;
    buf_init(&res->body, HTTP_CLIENT_RESPONSE_MAX);
    CURL *curl = curl_easy_init();
    PASSERT(curl != NULL);
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < HTTP_CLIENT_MAX_HEADERS && call->headers[i]; i++) {
        headers = curl_slist_append(headers, call->headers[i]);
    }
    curl_easy_setopt(curl, CURLOPT_URL, call->url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call->method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, call->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &res->body);
    if (call->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    switch (rc) {
    case CURLE_OK:
        return PERR_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return perr_set(err, PERR_PROVIDER_TIMEOUT, NULL, NULL);
    default:
        return perr_set(err, PERR_PROVIDER_UNAVAILABLE, NULL, "%s", curl_easy_strerror(rc));
    }
}
