# Over-the-air upgrade where the application chooses when to restart (reset_disable=1).
# On the models that cannot turn the automatic restart off, the module restarts anyway.
import fota
import log
from misc import Power

PACKAGE_URL = "http://127.0.0.1:8080/app-v2.fota"

log.basicConfig(level=log.INFO)
logger = log.getLogger("ota")
state = {"done": False, "failed": False}


def on_progress(args):
    if args[0] in (0, 2) or (args[0] == 1 and args[1] == 100):
        state["done"] = True
    elif args[0] not in (0, 1, 2):
        state["failed"] = True
        logger.error("download failed, error code {}".format(args[1]))


updater = fota(reset_disable=1)
ret = updater.httpDownload(url1=PACKAGE_URL, callback=on_progress)
logger.info("httpDownload returned {}".format(ret))
if ret == 0 and not state["failed"]:
    logger.info("closing files before the restart")
    Power.powerRestart()
