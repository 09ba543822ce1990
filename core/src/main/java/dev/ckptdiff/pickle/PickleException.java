package dev.ckptdiff.pickle;

import dev.ckptdiff.io.BadInputException;

final class PickleException {
    private PickleException() {
    }

    static BadInputException at(String source, long offset, String problem) {
        return new BadInputException(source + ": at offset " + offset + ": " + problem);
    }
}
