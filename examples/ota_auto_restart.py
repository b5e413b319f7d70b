# Over-the-air upgrade that lets the module restart by itself once the package is in.
# Works on every model: on the ASR family httpDownload returns at once and the result arrives
# through the callback; on blocking models it returns only when the package is downloaded and
# verified.
import fota
import utime
import log

PACKAGE_URL = "http://127.0.0.1:8080/app-v2.fota"

log.basicConfig(level=log.INFO)
logger = log.getLogger("ota")


def on_progress(args):
    status, value = args[0], args[1]
    if status == 1:
        logger.info("downloading: {}%".format(value))
    elif status == 0:
        logger.info("package downloaded")
    elif status == 2:
        logger.info("update armed, the module restarts now")
    else:
        logger.error("download failed, error code {}".format(value))


def main():
    updater = fota()
    ret = updater.httpDownload(url1=PACKAGE_URL, callback=on_progress)
    if ret != 0:
        logger.error("httpDownload returned {}".format(ret))
        return
    # The restart comes from the module; give the download time to finish.
    for _ in range(120):
        utime.sleep(1)


main()
