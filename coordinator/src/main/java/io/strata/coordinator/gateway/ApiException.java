package io.strata.coordinator.gateway;

import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * An error answered in OpenAI's JSON shape: {@code {"error": {"message", "type", "param", "code"}}} with an HTTP
 * status. The message names the request field ({@code param}) and the numbers involved.
 */
public final class ApiException extends RuntimeException {
    private final HttpResponseStatus status;
    private final String type;
    private final String param;
    private final String code;
    private final long retryAfterSeconds;

    public ApiException(HttpResponseStatus status, String type, String message, String param, String code, long retryAfterSeconds) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400: a malformed body or a bad field, named by {@code param}. */
    public static ApiException badRequest(String message, String param) {
        return new ApiException(HttpResponseStatus.BAD_REQUEST, "invalid_request_error", message, param, null, 0);
    }

    public static ApiException contextLength(String message, String param) {
        return new ApiException(HttpResponseStatus.BAD_REQUEST, "invalid_request_error", message, param, "context_length_exceeded", 0);
    }

    public static ApiException unauthorized(String message) {
        return new ApiException(HttpResponseStatus.UNAUTHORIZED, "invalid_request_error", message, null, "invalid_api_key", 0);
    }

    public static ApiException modelNotFound(String model) {
        return new ApiException(HttpResponseStatus.NOT_FOUND, "invalid_request_error",
                "The model `" + model + "` does not exist or you do not have access to it.", "model", "model_not_found", 0);
    }

    public static ApiException notFound(String message) {
        return new ApiException(HttpResponseStatus.NOT_FOUND, "invalid_request_error", message, null, "unknown_url", 0);
    }

    public static ApiException methodNotAllowed(String message) {
        return new ApiException(HttpResponseStatus.METHOD_NOT_ALLOWED, "invalid_request_error", message, null, "method_not_allowed", 0);
    }

    public static ApiException tooLarge(long limit) {
        return new ApiException(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "invalid_request_error",
                "The request body is larger than the limit of " + limit + " bytes.", null, "request_too_large", 0);
    }

    public static ApiException queueFull(String message, long retryAfterSeconds) {
        return new ApiException(HttpResponseStatus.TOO_MANY_REQUESTS, "requests", message, null, "rate_limit_exceeded", retryAfterSeconds);
    }

    public static ApiException unavailable(String message) {
        return new ApiException(HttpResponseStatus.SERVICE_UNAVAILABLE, "server_error", message, null, "service_unavailable", 5);
    }

    public static ApiException internal(String message) {
        return new ApiException(HttpResponseStatus.INTERNAL_SERVER_ERROR, "server_error", message, null, null, 0);
    }

    public HttpResponseStatus status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    /** Seconds for a {@code Retry-After} header; 0 for none. */
    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
