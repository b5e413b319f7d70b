# Local upgrade: the package was copied into the module's file system (/usr) by some other
# channel (serial, MQTT, a USB host...). Feed it to fota in pieces, flush, verify, restart.
import fota
import uos
import utime
import log
from misc import Power

PACKAGE_FILE = "/usr/app-v2.fota"
PIECE = 1024

log.basicConfig(level=log.INFO)
logger = log.getLogger("local")


def upgrade():
    updater = fota()
    total = uos.stat(PACKAGE_FILE)[6]
    logger.info("package is {} bytes".format(total))
    with open(PACKAGE_FILE, "rb") as f:
        while True:
            piece = f.read(PIECE)
            if not piece:
                break
            if updater.write(piece, total) != 0:
                logger.error("write failed")
                return
    if updater.flush() != 0:
        logger.error("flush failed")
        return
    if updater.verify() != 0:
        logger.error("package did not verify; keeping the current firmware")
        return
    logger.info("verified, restarting into the update")
    utime.sleep(1)
    Power.powerRestart()


upgrade()
