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

    /** "{@code file}: cannot {@code action}: reason", with the reason in words rather than an exception name. */
    public static BadInputException io(Path file, String action, java.io.IOException e) {
        String reason = switch (e) {
            case java.nio.file.NoSuchFileException x -> "no such file or directory" + (x.getFile() != null
                    && !x.getFile().equals(file.toString()) ? " (" + x.getFile() + ")" : "");
            case java.nio.file.AccessDeniedException x -> "permission denied";
            case java.nio.file.FileAlreadyExistsException x -> "already exists";
            case java.nio.file.NotDirectoryException x -> "not a directory";
            default -> e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        };
        return new BadInputException(file + ": cannot " + action + ": " + reason);
    }

    public static BadInputException in(Path file, String problem) {
        return new BadInputException(file + ": " + problem);
    }
}
