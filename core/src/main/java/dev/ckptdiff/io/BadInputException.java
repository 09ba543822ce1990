package dev.ckptdiff.io;

import java.nio.file.Path;

/**
 * An input that is not what it claims to be. The message is one line that names the file, where in
 * it the problem sits (an offset or a key) and what was expected, because it is printed as-is to a
 * user who has nothing else to go on.
 */
public final class BadInputException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BadInputException(String message) {
        super(message);
    }

    public BadInputException(String message, Throwable cause) {
        super(message, cause);
    }

    public static BadInputException at(Path file, long offset, String problem) {
        return new BadInputException(file + ": at offset " + offset + ": " + problem);
    }

    public static BadInputException in(Path file, String problem) {
        return new BadInputException(file + ": " + problem);
    }
}
