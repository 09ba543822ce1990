package dev.ckptdiff.check;

/**
 * One finding: what it is about (a tensor, a shard key, a YAML key, an option) and a message that
 * says what was expected, what was found and the likely cause or fix.
 */
public record Finding(Severity severity, String subject, String message) {
    public static Finding error(String subject, String message) {
        return new Finding(Severity.ERROR, subject, message);
    }

    public static Finding warning(String subject, String message) {
        return new Finding(Severity.WARNING, subject, message);
    }

    public static Finding info(String subject, String message) {
        return new Finding(Severity.INFO, subject, message);
    }
}
